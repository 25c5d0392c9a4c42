"""Saving a refreshed workbook so that nothing is ever lost.

- Before anything is written, ``check_writable`` refuses a target that is open in Excel or LibreOffice (their lock
  files ``~$BOOK.xlsx`` / ``.~lock.BOOK.xlsx#`` sit beside it), read-only, in a folder that cannot be written,
  or locked by another program; the message says what to do, and the file is untouched.
- ``save_atomic`` writes the workbook to a temporary file beside the target, copies the previous file to the
  backup (``BOOK.backup.xlsx``), then moves the new file over the target in one ``os.replace``: a crash leaves
  either the old file or the new one, never half of one.
- ``package_features`` lists what a sheet holds that openpyxl may drop on a round-trip (shapes and buttons, form
  controls, sparklines and other Excel extensions, macros); ``lost_features`` compares the user's sheets before
  and after, so the refresh can say exactly what the previous version (the backup) still has.
"""

from __future__ import annotations

import os
import posixpath
import re
import shutil
import tempfile
import zipfile
from collections import Counter
from pathlib import Path

from .graft import xml_attr, xml_unescape


class SaveError(PermissionError):
    """The refreshed workbook could not be saved; the message says why and what to do. Nothing was changed.
    (A ``PermissionError``, so callers that already turn permission problems into a clean message do so here.)"""


def backup_path(target: Path) -> Path:
    """BOOK.xlsx -> BOOK.backup.xlsx (still opens in Excel with a double-click)."""
    return target.with_name(f"{target.stem}.backup{target.suffix}")


def lock_files(target: Path) -> list[Path]:
    """Lock files that show the workbook is open in Excel or LibreOffice."""
    candidates = [target.with_name(f"~${target.name}"), target.with_name(f".~lock.{target.name}#")]
    return [p for p in candidates if p.exists()]


def check_writable(target: Path) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise SaveError(f"Cannot save {target}: the folder {folder} does not exist. Nothing was changed.")
    locks = lock_files(target)
    if locks:
        raise SaveError(f"{target.name} is open in another program (lock file {locks[0].name}). Close it there and "
                        "refresh again, or write the refreshed copy elsewhere with --out NEW.xlsx. "
                        "Nothing was changed.")
    if target.exists() and (not os.access(target, os.W_OK) or not target.stat().st_mode & 0o222):
        raise SaveError(f"{target} is read-only. Make it writable, or write the refreshed copy elsewhere with "
                        "--out NEW.xlsx. Nothing was changed.")
    if not os.access(folder, os.W_OK):
        raise SaveError(f"Cannot write in the folder {folder} (no permission). Write the refreshed copy elsewhere "
                        "with --out NEW.xlsx. Nothing was changed.")
    if target.exists():
        try:  # on Windows a workbook open in Excel cannot be opened for writing
            with open(target, "r+b"):
                pass
        except OSError as exc:
            raise SaveError(f"{target.name} is locked by another program ({exc.strerror}). Close it there and "
                            "refresh again. Nothing was changed.") from exc


def save_atomic(save, target: Path, backup: bool = True) -> Path | None:
    """``save(temp_path)`` writes the workbook; it replaces ``target`` atomically. Returns the backup path."""
    check_writable(target)
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=f"{target.suffix}.tmp",
                                         dir=target.parent)
    os.close(handle)
    temp = Path(temp_name)
    kept = None
    try:
        save(temp)
        if not zipfile.is_zipfile(temp):
            raise SaveError(f"The refreshed workbook for {target.name} came out damaged; nothing was changed.")
        if target.exists():
            os.chmod(temp, target.stat().st_mode & 0o777)
            if backup:
                kept = backup_path(target)
                _copy_atomic(target, kept)
        os.replace(temp, target)
    except SaveError:
        temp.unlink(missing_ok=True)
        raise
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise SaveError(f"Could not save {target}: {exc.strerror or exc}. The original file is unchanged.") from exc
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    return kept


def _copy_atomic(source: Path, dest: Path) -> None:
    if dest.exists() and (not os.access(dest, os.W_OK) or not dest.stat().st_mode & 0o222):
        raise SaveError(f"The backup {dest.name} is read-only, so the previous version could not be kept. Make it "
                        "writable or move it away. Nothing was changed.")
    handle, temp_name = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=".tmp", dir=dest.parent)
    os.close(handle)
    try:
        shutil.copy2(source, temp_name)
        os.replace(temp_name, dest)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


# ---- what a round-trip may lose ---------------------------------------------------------------------------------

# any namespace prefix or none: Excel writes <xdr:pic>, openpyxl the same element as <pic> in a default namespace
_DRAWING = {"shapes or buttons": r"<(?:\w+:)?sp[ >]", "pictures": r"<(?:\w+:)?pic[ >]",
            "charts": r"<(?:\w+:)?chart[ >]", "grouped shapes": r"<(?:\w+:)?grpSp[ >]",
            "connectors": r"<(?:\w+:)?cxnSp[ >]"}
_SHEET = {"form controls": r"<controls[ >]", "sparklines": r"sparklineGroup[ >]",
          "Excel-extension data validation": r"<x14:dataValidation[ >]",
          "Excel-extension conditional formats": r"<x14:conditionalFormatting[ >]", "slicers": r"<x14:slicer",
          "embedded objects": r"<oleObject[ >]", "tables": r"<tablePart[ >]", "notes": r"<legacyDrawing[ >]"}
_BOOK = {"macros (VBA)": "xl/vbaProject.bin", "slicers": "xl/slicerCaches/", "timelines": "xl/timelineCaches/",
         "threaded comments": "xl/threadedComments/", "custom XML": "customXml/"}


def package_features(path: Path, sheets: set[str] | None = None) -> dict[str, Counter]:
    """Per sheet name (and "(workbook)"), a count of each feature listed above; ``sheets``: only these sheets
    (their XML is what takes the time: a 400,000-line order log is read and searched in full)."""
    out: dict[str, Counter] = {}
    with zipfile.ZipFile(path) as z:
        names = set(z.namelist())
        workbook = z.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = _rels(z, "xl/_rels/workbook.xml.rels", "xl/workbook.xml")
        for match in re.finditer(r"<sheet\b[^>]*?/>", workbook):
            tag = match.group(0)
            name = xml_attr(tag, "name")
            rid = xml_attr(tag, r"r:id") or xml_attr(tag, r"[a-z0-9]+:id")
            part = rels.get(rid or "")
            if not name or not part or part not in names or (sheets is not None and xml_unescape(name) not in sheets):
                continue
            xml = z.read(part).decode("utf-8", "replace")
            counts = Counter({k: len(re.findall(p, xml)) for k, p in _SHEET.items()})
            for target in _rels(z, _rels_name(part), part).values():
                if "/drawings/" in target and target in names and target.endswith(".xml"):
                    drawing = z.read(target).decode("utf-8", "replace")
                    counts.update({k: len(re.findall(p, drawing)) for k, p in _DRAWING.items()})
            out[xml_unescape(name)] = counts
        out["(workbook)"] = Counter({k: sum(1 for n in names if n.startswith(p)) for k, p in _BOOK.items()})
    return out


def lost_features(before: dict[str, Counter], after: dict[str, Counter], sheets: set[str]) -> list[str]:
    """Plain-words list of what ``after`` lacks on the given sheets (and the workbook) compared with ``before``."""
    lost = []
    for sheet in sorted(sheets | {"(workbook)"}):
        if sheet not in before:
            continue
        was, now = before[sheet], after.get(sheet, Counter())
        for feature, count in sorted(was.items()):
            if count > now.get(feature, 0):
                where = "the workbook" if sheet == "(workbook)" else f"sheet '{sheet}'"
                lost.append(f"{count - now.get(feature, 0)} {feature} on {where}")
    return lost


def _rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def _rels(z: zipfile.ZipFile, rels_part: str, source: str) -> dict[str, str]:
    try:
        xml = z.read(rels_part).decode("utf-8", "replace")
    except KeyError:
        return {}
    base = posixpath.dirname(source)
    out = {}
    for tag in re.findall(r"<Relationship\b[^>]*?/?>", xml):
        rid, target = xml_attr(tag, "Id"), xml_attr(tag, "Target")
        if rid and target and xml_attr(tag, "TargetMode") != "External":
            out[rid] = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
    return out

