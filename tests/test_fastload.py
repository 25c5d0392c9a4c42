"""addin.fastload returns what openpyxl's read-only mode returns, value for value and type for type."""

import datetime as dt
import zipfile

import pytest
from openpyxl import Workbook

from addin import fastload, workbook

NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _same(path):
    fast = fastload.load_values(path)
    slow = workbook._load_with_openpyxl(path)
    assert fast[1] == slow[1] and list(fast[0]) == list(slow[0])
    for title, rows in slow[0].items():
        assert fast[0][title] == rows, title
        assert [type(r) for r in fast[0][title]] == [type(r) for r in rows]
        assert [type(v) for r in fast[0][title] for v in r] == [type(v) for r in rows for v in r]
    return fast[0]


@pytest.mark.parametrize("epoch_1904", [False, True])
def test_values_as_openpyxl_reads_them(tmp_path, epoch_1904):
    wb = Workbook()
    if epoch_1904:
        wb.epoch = dt.datetime(1904, 1, 1)
    ws = wb.active
    ws.title = "Accounts & more"
    ws.append(["Account ID", "Amount", "Date", "Flag", "Time", "Span", None, "Text"])
    ws.append(["A1", 12, dt.datetime(2025, 3, 15), True, dt.time(9, 30), dt.timedelta(hours=30), None, "x < y & z"])
    ws.append(["A2", 12.5, dt.date(2024, 2, 29), False, None, None, None, "  spaced  "])
    ws.append([])
    ws.append([None, None, None, None, None, None, None, None, "far"])
    ws["C2"].number_format = "yyyy-mm-dd"
    ws["F2"].number_format = "[h]:mm:ss"
    ws.cell(row=9, column=2, value=1e-7)
    ws.cell(row=10, column=1, value="=1+1")
    other = wb.create_sheet("Empty")
    del other
    path = tmp_path / "book.xlsx"
    wb.save(path)
    values = _same(path)
    assert values["Accounts & more"][1][0] == "A1"


def _rewrite(path, member, text):
    out = path.with_name("edited.xlsx")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            dst.writestr(item, text.encode() if item.filename == member else src.read(item.filename))
    return out


def test_hand_written_sheet_xml(tmp_path):
    wb = Workbook()
    wb.active.append(["a", "b"])
    wb.active["A2"] = dt.datetime(2025, 1, 2)
    wb.active["A2"].number_format = "d/m/yyyy"
    path = tmp_path / "plain.xlsx"
    wb.save(path)
    style = None
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        import re
        style = re.search(r'<c r="A2" s="(\d+)"', sheet).group(1)
    cells = (
        '<row r="1"><c r="A1" t="inlineStr"><is><t>plain</t></is></c>'
        '<c t="inlineStr" r="B1"><is><r><rPr><b/></rPr><t>rich </t></r><r><t xml:space="preserve">run</t></r>'
        '<rPh sb="0" eb="1"><t>phonetic</t></rPh></is></c>'
        '<c r="C1" t="str"><f>A1&amp;"x"</f><v>plain&amp;x</v></c><c r="D1" t="e"><v>#N/A</v></c>'
        '<c r="E1" t="b"><v>1</v></c><c r="F1"><v>3</v></c><c r="G1"><v>3.0</v></c><c r="H1"><v>1E3</v></c>'
        '<c r="I1" t="inlineStr"><is><t>line\r\none &lt;&#65;&gt;</t></is></c><c r="J1"/><c r="K1"><v></v></c></row>'
        '<row r="3"/>'
        f'<row r="5" spans="1:3"><c r="C5" s="{style}"><v>45000</v></c><c r="A5"><v>1</v></c></row>'
        f'<row r="6"><c s="{style}" r="B6"><v>45000.5</v></c><c><v>7</v></c></row>'
        '<row r="7"><c r="A7" t="d"><v>2025-01-02T03:04:05</v></c></row>'
    )
    text = re.sub(r"<sheetData>.*</sheetData>|<sheetData\s*/>", f"<sheetData>{cells}</sheetData>", sheet, flags=re.S)
    odd = _rewrite(path, "xl/worksheets/sheet1.xml", text)
    # attributes out of the usual order, rich runs, formulas: not the fast scan's; openpyxl reads the workbook
    with pytest.raises(fastload.Unusual):
        fastload.load_values(odd)
    values, _hidden = workbook.load_sheets(odd)
    assert values == workbook._load_with_openpyxl(odd)[0]
    rows = values["Sheet"]
    assert rows[0][:3] == ("plain", "rich run", "plain&x") and rows[1] == [] and rows[2] == ()


def test_shared_strings(tmp_path):
    wb = Workbook()
    wb.active.append(["one", "two"])
    path = tmp_path / "shared.xlsx"
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
        types = z.read("[Content_Types].xml").decode()
        rels = z.read("xl/_rels/workbook.xml.rels").decode()
    import re
    cells = '<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>2</v></c></row>'
    sheet = re.sub(r"<sheetData>.*</sheetData>", f"<sheetData>{cells}</sheetData>", sheet, flags=re.S)
    strings = (f'<sst xmlns="{NS}" count="3" uniqueCount="3"><si><t>alpha &amp; beta</t></si>'
               '<si><r><t>ga</t></r><r><rPr><i/></rPr><t>mma</t></r></si><si><t>x005F_x</t></si></sst>')
    out = tmp_path / "with-sst.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = sheet.encode()
            elif item.filename == "[Content_Types].xml" and "sharedStrings" not in types:
                data = types.replace("</Types>", '<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                                     'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>'
                                     ).encode()
            elif item.filename == "xl/_rels/workbook.xml.rels" and "sharedStrings" not in rels:
                data = rels.replace("</Relationships>", '<Relationship Id="rIdS" Type="http://schemas.openxmlformats'
                                    '.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"'
                                    '/></Relationships>').encode()
            dst.writestr(item, data)
        dst.writestr("xl/sharedStrings.xml", strings)
    values = _same(out)
    assert values["Sheet"][0] == ("alpha & beta", "gamma", "x")


def test_a_large_sheet_read_in_two_halves_gives_the_same_rows(tmp_path, monkeypatch):
    wb = Workbook()
    ws = wb.active
    ws.append(["Order Date", "Account ID", "Amount"])
    for k in range(400):
        ws.append([dt.date(2024, 1, 1) + dt.timedelta(days=k % 90), f"AC-{k % 37:03d} & co", k * 1.25 if k % 3 else k])
        if k % 50 == 0:
            ws.append([])
    ws.cell(row=1000, column=5, value="last")
    path = tmp_path / "orders.xlsx"
    wb.save(path)
    whole = fastload.load_values(path)[0]
    monkeypatch.setattr(fastload, "SPLIT_CHARS", 0)
    halves = fastload.load_values(path, workers=2)[0]
    assert halves == whole == workbook._load_with_openpyxl(path)[0]
    assert [type(v) for r in halves["Sheet"] for v in r] == [type(v) for r in whole["Sheet"] for v in r]


def test_rows_numbered_backwards_across_the_cut_are_read_in_one_scan(tmp_path, monkeypatch):
    wb = Workbook()
    wb.active.append(["a"])
    path = tmp_path / "plain.xlsx"
    wb.save(path)
    with zipfile.ZipFile(path) as z:
        sheet = z.read("xl/worksheets/sheet1.xml").decode()
    import re
    cells = "".join(f'<row r="{r}"><c r="A{r}"><v>{r}</v></c></row>' for r in (5, 6, 7, 8, 2, 3, 4, 9))
    odd = _rewrite(path, "xl/worksheets/sheet1.xml",
                   re.sub(r"<sheetData>.*</sheetData>", f"<sheetData>{cells}</sheetData>", sheet, flags=re.S))
    monkeypatch.setattr(fastload, "SPLIT_CHARS", 0)
    assert fastload.load_values(odd, workers=2)[0] == workbook._load_with_openpyxl(odd)[0]
