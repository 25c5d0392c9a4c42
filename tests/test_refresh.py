"""The headless refresh: owned sheets written, the user's sheets untouched, planner notes kept, safe saving."""

import hashlib
import os
import shutil
from pathlib import Path

import pytest
from openpyxl import load_workbook

from refresh_books import book_copy, sheet_snapshot

from addin import owned  # noqa: E402  (refresh_books installs the engine stand-ins first)
from addin.cli import main  # noqa: E402
from addin.refresh import TextProgress, refresh_file  # noqa: E402
from addin.safe_save import SaveError, backup_path  # noqa: E402


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.getbasetemp() / "refresh-cache"


@pytest.fixture
def plain(tmp_path, cache):
    cache.mkdir(exist_ok=True)
    return book_copy(tmp_path, cache, refreshed=False)


@pytest.fixture
def refreshed(tmp_path, cache):
    cache.mkdir(exist_ok=True)
    return book_copy(tmp_path, cache, refreshed=True)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _planner_rows(ws) -> dict[str, dict]:
    header = [c.value for c in ws[1]]
    return {str(r[0]): dict(zip(header, r)) for r in ws.iter_rows(min_row=2, values_only=True) if r[0] is not None}


def test_refresh_writes_the_owned_sheets(plain):
    report = refresh_file(plain, progress=False)
    wb = load_workbook(plain)
    for name in (owned.SCORES, owned.PLANNER, owned.SEASONALITY, owned.TRIGGERS, owned.CHARTS):
        assert name in wb.sheetnames
    scores = wb[owned.SCORES]
    assert [c.value for c in scores[1]] == [c.header for c in owned.SCORE_COLS]
    assert scores.max_row == 1 + report.accounts
    risks = [r[3] for r in scores.iter_rows(min_row=2, values_only=True)]
    assert all(0 <= r <= 1 for r in risks)
    planner = wb[owned.PLANNER]
    header = [c.value for c in planner[1]]
    for column in ("Account ID", "Who calls", "Eat crow", "Make good", "Make-good budget", "Resell", "Play",
                   "First touch", "Reminders", *owned.PLANNER_USER):
        assert column in header
    assert planner.max_row - 1 == report.planner_rows > 0
    assert len(wb[owned.CHARTS]._images) == len(report.findings) == 9
    charts = wb[owned.CHARTS]
    assert charts["B2"].value.startswith("What the charts say")
    assert [charts.cell(4 + k, 2).value for k in range(9)] == [f"•  {t}" for t in report.findings]


def test_user_sheets_formulas_and_formats_are_untouched(plain):
    user = ["My Review", "Accounts", "Orders", "Events", "Settings"]
    before = sheet_snapshot(plain, user)
    refresh_file(plain, progress=False)
    assert sheet_snapshot(plain, user) == before
    wb = load_workbook(plain)
    assert wb["My Review"]["B4"].value == "=SUM(Accounts!E:E)"
    assert wb.sheetnames[0] == "My Review"
    assert wb["Accounts"].tables  # the sample book's Excel tables survive


def test_previous_version_is_kept_as_backup(plain):
    original = _digest(plain)
    report = refresh_file(plain, progress=False)
    assert report.backup == backup_path(plain) and _digest(report.backup) == original


def test_out_leaves_the_source_unchanged(plain, tmp_path):
    original = _digest(plain)
    out = tmp_path / "copy.xlsx"
    refresh_file(plain, out=out, progress=False)
    assert _digest(plain) == original and owned.PLANNER in load_workbook(out).sheetnames
    assert not backup_path(plain).exists()


def test_planner_notes_survive_reordering_and_new_columns(refreshed):
    wb = load_workbook(refreshed)
    ws = wb[owned.PLANNER]
    header = [c.value for c in ws[1]]
    status, notes = header.index("Status") + 1, header.index("Notes") + 1
    rows = list(ws.iter_rows(min_row=2, values_only=True))
    ids = [r[0] for r in rows]
    ws.cell(1, len(header) + 1, "Pipeline stage")
    expected = {}
    for k, account in enumerate(ids):  # reverse the rows, type into user columns and a new column
        r = len(ids) + 1 - k
        for j, value in enumerate(rows[k], start=1):
            ws.cell(r, j, value)
        ws.cell(r, status, "Contacted" if k % 2 else None)
        ws.cell(r, notes, f"Called {account} — 日本語 ✓")
        ws.cell(r, len(header) + 1, f"=LEN(B{r})")
        expected[account] = ("Contacted" if k % 2 else None, f"Called {account} — 日本語 ✓", r)
    wb.save(refreshed)
    refresh_file(refreshed, progress=False)
    ws = load_workbook(refreshed)[owned.PLANNER]
    got = {r[0].value: r for r in ws.iter_rows(min_row=2) if r[0].value}
    assert set(got) == set(expected)
    for account, (state, note, r) in expected.items():
        row = got[account]
        assert row[status - 1].value == state and row[notes - 1].value == note
        assert row[len(header)].value == f"=LEN(B{row[0].row})"  # the formula still points at its own row
        assert row[0].row == r  # the user's order is kept


def test_a_row_that_no_longer_qualifies_is_kept_only_with_notes(refreshed):
    wb = load_workbook(refreshed)
    ws = wb[owned.PLANNER]
    header = [c.value for c in ws[1]]
    notes = header.index("Notes") + 1
    last = ws.max_row
    ws.cell(last + 1, 1, "GONE-1")
    ws.cell(last + 1, notes, "Spoke to their CFO")
    ws.cell(last + 2, 1, "GONE-2")  # no notes: dropped
    scores = [r[0] for r in wb[owned.SCORES].iter_rows(min_row=2, values_only=True)]
    fine = next(a for a in scores if a not in _planner_rows(ws))
    ws.cell(last + 3, 1, fine)
    ws.cell(last + 3, header.index("Situation") + 1, "At risk: High")
    ws.cell(last + 3, notes, "Watching")
    wb.save(refreshed)
    report = refresh_file(refreshed, progress=False)
    rows = _planner_rows(load_workbook(refreshed)[owned.PLANNER])
    assert rows["GONE-1"]["Notes"] == "Spoke to their CFO"
    assert rows["GONE-1"]["Situation"].startswith("Not in the account list any more")
    assert "GONE-2" not in rows
    assert rows[fine]["Situation"].startswith("No longer at risk") and rows[fine]["Notes"] == "Watching"
    assert report.kept_rows == 2


def test_refresh_twice_changes_nothing_in_the_tables(refreshed):
    before = sheet_snapshot(refreshed, [owned.SCORES, owned.PLANNER])
    report = refresh_file(refreshed, progress=False)
    assert sheet_snapshot(refreshed, [owned.SCORES, owned.PLANNER]) == before
    assert report.trend_reused == 12  # the month-ends were read back from the Charts sheet, not recomputed
    assert len(load_workbook(refreshed)[owned.CHARTS]._images) == 9  # replaced, not stacked


def test_a_users_own_sheet_named_scores_is_never_overwritten(plain):
    wb = load_workbook(plain)
    wb.create_sheet("Scores")["A1"] = "=CHURN_RISK(Accounts!A1:M61)"
    wb.save(plain)
    report = refresh_file(plain, progress=False)
    wb = load_workbook(plain)
    assert wb["Scores"]["A1"].value == "=CHURN_RISK(Accounts!A1:M61)"
    assert "Scores (relhealth)" in wb.sheetnames
    assert any("Scores" in w for w in report.warnings)
    refresh_file(plain, progress=False)  # the second time the marked sheet is found again
    assert load_workbook(plain).sheetnames.count("Scores (relhealth)") == 1


def test_a_renamed_planner_is_still_found(refreshed):
    wb = load_workbook(refreshed)
    wb[owned.PLANNER].title = "Q4 Win-backs"
    from openpyxl.workbook.defined_name import DefinedName

    name = owned.ROLES[owned.PLANNER]
    ref = wb.defined_names[name].attr_text.replace("'Win-back Planner'", "'Q4 Win-backs'")
    wb.defined_names[name] = DefinedName(name, attr_text=ref, hidden=True)  # as Excel does on a rename
    wb.save(refreshed)
    refresh_file(refreshed, progress=False)
    assert "Q4 Win-backs" in load_workbook(refreshed).sheetnames
    assert owned.PLANNER not in load_workbook(refreshed).sheetnames


@pytest.mark.parametrize("lock", ["~$book.xlsx", ".~lock.book.xlsx#"], ids=["excel", "libreoffice"])
def test_a_workbook_open_elsewhere_gets_a_clear_message_and_is_unchanged(refreshed, lock, capsys):
    (refreshed.parent / lock).write_text("lock")
    original = _digest(refreshed)
    with pytest.raises(SaveError, match="open in another program"):
        refresh_file(refreshed, progress=False)
    assert main(["refresh", str(refreshed), "--quiet"]) == 1
    assert "Close it there" in capsys.readouterr().err
    assert _digest(refreshed) == original and not backup_path(refreshed).exists()


def test_a_read_only_workbook_gets_a_clear_message(refreshed):
    original = _digest(refreshed)
    os.chmod(refreshed, 0o444)
    try:
        with pytest.raises(SaveError, match="read-only"):
            refresh_file(refreshed, progress=False)
    finally:
        os.chmod(refreshed, 0o644)
    assert _digest(refreshed) == original


def test_a_failed_replace_loses_nothing(refreshed, monkeypatch):
    original = _digest(refreshed)

    def refuse(*_args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "replace", refuse)
    with pytest.raises(SaveError, match="original file is unchanged"):
        refresh_file(refreshed, progress=False)
    monkeypatch.undo()
    assert _digest(refreshed) == original
    assert [p.name for p in refreshed.parent.iterdir() if p.suffix == ".tmp"] == []


def test_progress_bar_reaches_100_percent(plain, capsys):
    refresh_file(plain, progress=True)
    captured = capsys.readouterr()
    assert "100% done" in captured.err and "[" in captured.err
    assert "Refreshed book.xlsx" in captured.out


def test_text_progress_redraws_in_place_on_a_terminal():
    class Tty:
        def __init__(self):
            self.text = ""

        def write(self, s):
            self.text += s

        def flush(self):
            pass

        def isatty(self):
            return True

    stream = Tty()
    bar = TextProgress(stream, width=10)
    bar(0.5, "scoring")
    bar(1.0, "done")
    bar.close()
    assert stream.text.count("\r") == 2 and "[#####.....]  50% scoring" in stream.text and stream.text.endswith("\n")


def test_demo_command_writes_and_refreshes_the_sample(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "demo.xlsx", "--accounts", "60", "--quiet"]) == 0
    assert owned.PLANNER in load_workbook(tmp_path / "demo.xlsx").sheetnames
    shutil.rmtree(tmp_path, ignore_errors=True)


def test_user_sheets_are_grafted_back_byte_for_byte(plain):
    import io
    import zipfile

    from matplotlib.figure import Figure
    from openpyxl.drawing.image import Image

    from addin import graft

    wb = load_workbook(plain)
    fig = Figure(figsize=(2, 1))
    fig.add_subplot(1, 1, 1).plot([1, 2, 3])
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    picture = Image(buffer)
    picture.anchor = "F2"
    wb["My Review"].add_image(picture)  # a picture and a note on the user's sheet: separate parts in the package
    wb.save(plain)

    def user_parts(path):
        with zipfile.ZipFile(path) as z:
            parts = graft.sheet_parts(z)
            return {t: z.read(parts[t]) for t in ("My Review", "Accounts", "Orders", "Events", "Settings")}

    before = user_parts(plain)
    refresh_file(plain, progress=False)
    assert user_parts(plain) == before
    refresh_file(plain, progress=False)  # the second time the owned sheets exist and are rewritten in place
    assert user_parts(plain) == before
    wb = load_workbook(plain)
    assert len(wb["My Review"]._images) == 1 and wb["My Review"]["C3"].comment.text == "Checked by Maya"
    assert len(wb[owned.CHARTS]._images) == 9


def test_charts_rendered_by_a_forked_process_are_the_pictures_rendered_here():
    from matplotlib.figure import Figure

    from addin.refresh import PngJob
    from addin.writer import png_bytes
    from charts import Chart

    charts = []
    for k in range(3):
        figure = Figure(figsize=(3, 2), dpi=100)
        figure.add_subplot(1, 1, 1).plot([0, 1, 2], [k, 2 * k, k])
        figure.suptitle(f"chart {k}")
        charts.append(Chart(f"chart_{k}", figure))
    here = {c.name: png_bytes(c.figure) for c in charts}
    assert PngJob(charts, workers=2).result() == here
    assert PngJob(charts, workers=1).result() == here


def _with_button(path, pivot: bool) -> None:
    """A picture and a shape (a button) on the user's sheet; with ``pivot``, a pivot cache part too (such a book
    makes the whole openpyxl round-trip, which drops shapes)."""
    import io
    import re
    import zipfile

    from matplotlib.figure import Figure
    from openpyxl.drawing.image import Image

    wb = load_workbook(path)
    fig = Figure(figsize=(2, 1))
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    picture = Image(buffer)
    picture.anchor = "F2"
    wb["My Review"].add_image(picture)
    wb.save(path)
    shape = ('<xdr:twoCellAnchor><xdr:from><xdr:col>1</xdr:col><xdr:colOff>0</xdr:colOff><xdr:row>1</xdr:row>'
             '<xdr:rowOff>0</xdr:rowOff></xdr:from><xdr:to><xdr:col>3</xdr:col><xdr:colOff>0</xdr:colOff>'
             '<xdr:row>4</xdr:row><xdr:rowOff>0</xdr:rowOff></xdr:to><xdr:sp macro="" textlink=""><xdr:nvSpPr>'
             '<xdr:cNvPr id="5" name="Button 1"/><xdr:cNvSpPr/></xdr:nvSpPr><xdr:spPr><a:prstGeom prst="rect">'
             '<a:avLst/></a:prstGeom></xdr:spPr></xdr:sp><xdr:clientData/></xdr:twoCellAnchor>')
    edited = path.with_name("edited.xlsx")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(edited, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if re.fullmatch(r"xl/drawings/drawing\d+\.xml", item.filename):  # as Excel writes it: xdr: tags
                text = re.sub(r"<(/?)(?![a-z]+:)(\w+)", r"<\1xdr:\2", data.decode())
                text = text.replace('xmlns="http://schemas', 'xmlns:xdr="http://schemas')
                data = text.replace("</xdr:wsDr>", shape + "</xdr:wsDr>").encode()
            dst.writestr(item, data)
        if pivot:
            dst.writestr("xl/pivotCache/pivotCacheDefinition1.xml", "<pivotCacheDefinition/>")
    edited.replace(path)


@pytest.mark.parametrize("pivot", [False, True])
def test_what_a_round_trip_drops_is_named_and_a_grafted_sheet_keeps_it(plain, pivot):
    from addin import safe_save

    _with_button(plain, pivot)
    assert safe_save.package_features(plain)["My Review"]["shapes or buttons"] == 1
    report = refresh_file(plain, progress=False)
    lost = [w for w in report.warnings if "could not carry over" in w]
    kept = safe_save.package_features(plain, {"My Review"})["My Review"]
    if pivot:
        assert len(lost) == 1 and "1 shapes or buttons on sheet 'My Review'" in lost[0]
        assert "pictures" not in lost[0] and kept["pictures"] == 1  # openpyxl keeps the picture, as <pic>
        assert kept["shapes or buttons"] == 0
    else:
        assert not lost and kept["shapes or buttons"] == 1 and kept["pictures"] == 1
