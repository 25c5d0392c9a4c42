"""The user's sheets never pass through openpyxl: the refresh edits a *reduced* copy of the workbook and grafts
the user's original sheets back, byte for byte.

Why: an openpyxl round-trip re-serialises every cell of every sheet (slow for a 400,000-line order log) and drops
what it does not model (shapes and buttons, form controls, sparklines, slicers ...). So:

1. ``reduce_package``: a copy of the .xlsx in memory in which every sheet the add-in does not own is an empty
   stub with no relationships. openpyxl loads that in a blink; the refresh writes the owned sheets into it.
2. ``graft``: the saved result, with each stub replaced by the user's original sheet part, its relationships and
   everything they reach (drawings, charts, pictures, tables, notes, printer settings ...), renamed where a name
   is taken. Cell styles stay valid because openpyxl keeps the style table's order and only appends to it; the
   shared-string table is the original one with the owned sheets' strings appended (their indexes shifted).

A workbook with pivot caches, slicers or timelines (workbook-level parts that openpyxl rewrites or drops) is not
grafted: ``can_graft`` says so and the refresh falls back to the plain openpyxl round-trip, with the loss check of
``safe_save`` reporting anything not carried over.
"""

from __future__ import annotations

import io
import posixpath
import re
import zipfile
from xml.sax.saxutils import unescape
from pathlib import Path

from .owned import ROLES

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
STUB = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet xmlns="{MAIN_NS}">'
        '<sheetData/></worksheet>').encode()
UNGRAFTABLE = ("xl/pivotCache", "xl/slicerCaches", "xl/timelineCaches", "xl/pivotTables")
SST_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
SST_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings"


def can_graft(path: Path) -> bool:
    with zipfile.ZipFile(path) as z:
        return not any(n.startswith(UNGRAFTABLE) for n in z.namelist())


def owned_titles(z: zipfile.ZipFile) -> set[str]:
    """Titles of the sheets marked as the add-in's (hidden defined names ``_relhealth_*``)."""
    xml = z.read("xl/workbook.xml").decode("utf-8", "replace")
    titles = set()
    for name, ref in re.findall(r'<definedName\b[^>]*\bname="([^"]+)"[^>]*>([^<]*)</definedName>', xml):
        if name in ROLES.values():
            match = re.match(r"^'?(.*?)'?!", xml_unescape(ref))
            if match:
                titles.add(match.group(1).replace("''", "'"))
    return titles


def sheet_parts(z: zipfile.ZipFile) -> dict[str, str]:
    """Sheet title -> its part name, from workbook.xml and its relationships."""
    xml = z.read("xl/workbook.xml").decode("utf-8", "replace")
    rels = relationships(z, "xl/workbook.xml")
    out = {}
    for tag in re.findall(r"<sheet\b[^>]*?/>", xml):
        name, rid = xml_attr(tag, "name"), xml_attr(tag, r"r:id") or xml_attr(tag, r"[A-Za-z0-9]+:id")
        if name and rid in rels:
            out[xml_unescape(name)] = rels[rid][0]
    return out


def reduce_package(path: Path) -> tuple[io.BytesIO, set[str]]:
    """The workbook with every sheet not owned by the add-in stubbed out; returns it and the stubbed titles."""
    out = io.BytesIO()
    with zipfile.ZipFile(path) as z:
        mine = owned_titles(z)
        parts = sheet_parts(z)
        stubbed = {title: part for title, part in parts.items() if title not in mine and "/worksheets/" in part}
        skip = {rels_name(p) for p in stubbed.values()}
        stub_parts = set(stubbed.values())
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as w:
            for info in z.infolist():
                if info.filename in skip:
                    continue
                w.writestr(info.filename, STUB if info.filename in stub_parts else z.read(info.filename))
    out.seek(0)
    return out, set(stubbed)


def graft(original: Path, refreshed: bytes, stubbed: set[str], target: Path) -> None:
    """Write ``target``: the refreshed package with the stubbed sheets put back from ``original``."""
    with zipfile.ZipFile(original) as src, zipfile.ZipFile(io.BytesIO(refreshed)) as mid:
        src_parts, mid_parts = sheet_parts(src), sheet_parts(mid)
        files: dict[str, bytes] = {n: mid.read(n) for n in mid.namelist()}
        types = files["[Content_Types].xml"].decode("utf-8")
        src_types = src.read("[Content_Types].xml").decode("utf-8")
        taken = set(files)
        owned_parts = [p for t, p in mid_parts.items() if t not in stubbed]
        for title in sorted(stubbed):
            if title not in src_parts or title not in mid_parts:
                continue
            dest = mid_parts[title]
            files[dest] = src.read(src_parts[title])
            files.pop(rels_name(dest), None)
            rels = _copy_related(src, src_parts[title], dest, files, taken, src_types)
            if rels is not None:
                files[rels_name(dest)] = rels
            types = _add_types(types, src_types, files)
        sst_part = _shared_strings(src, mid, files, owned_parts)
        if sst_part:
            types, files = _ensure_sst_links(types, files, sst_part)
        files["[Content_Types].xml"] = types.encode("utf-8")
        files.pop("xl/calcChain.xml", None)
        with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as w:
            order = ["[Content_Types].xml"] + [n for n in files if n != "[Content_Types].xml"]
            for name in order:
                w.writestr(name, files[name], compresslevel=1 if len(files[name]) > 4_000_000 else 6)


# ---- relationships ---------------------------------------------------------------------------------------------

def rels_name(part: str) -> str:
    folder, name = posixpath.split(part)
    return posixpath.join(folder, "_rels", name + ".rels")


def relationships(z: zipfile.ZipFile, part: str) -> dict[str, tuple[str, bool]]:
    """rId -> (target part name, or the raw target when external; external?)."""
    try:
        xml = z.read(rels_name(part)).decode("utf-8", "replace")
    except KeyError:
        return {}
    out = {}
    for tag in re.findall(r"<Relationship\b[^>]*?/?>", xml):
        rid, target = xml_attr(tag, "Id"), xml_attr(tag, "Target")
        external = xml_attr(tag, "TargetMode") == "External"
        if rid and target:
            out[rid] = (target if external else _resolve(part, target), external)
    return out


def _resolve(part: str, target: str) -> str:
    if target.startswith("/"):
        return target.lstrip("/")
    return posixpath.normpath(posixpath.join(posixpath.dirname(part), target))


def _relative(source_part: str, target_part: str) -> str:
    return posixpath.relpath(target_part, posixpath.dirname(source_part))


def _copy_related(src: zipfile.ZipFile, src_part: str, dest_part: str, files: dict, taken: set, src_types: str,
                  renamed: dict | None = None) -> bytes | None:
    """Copy every part reachable from ``src_part`` into ``files`` (renaming on clashes); returns the rels for
    ``dest_part`` with targets pointing at the copies, or None when the part had no relationships."""
    renamed = {} if renamed is None else renamed
    try:
        xml = src.read(rels_name(src_part)).decode("utf-8")
    except KeyError:
        return None

    def retarget(match: re.Match) -> str:
        tag = match.group(0)
        target = xml_attr(tag, "Target")
        if not target or xml_attr(tag, "TargetMode") == "External":
            return tag
        part = _resolve(src_part, target)
        if part not in src.namelist():
            return tag
        if part not in renamed:
            copy_to = _free_name(part, taken)
            taken.add(copy_to)
            renamed[part] = copy_to
            files[copy_to] = src.read(part)
            rels = _copy_related(src, part, copy_to, files, taken, src_types, renamed)
            if rels is not None:
                files[rels_name(copy_to)] = rels
        return tag.replace(f'Target="{target}"', f'Target="{_relative(dest_part, renamed[part])}"')

    return re.sub(r"<Relationship\b[^>]*?/?>", retarget, xml).encode("utf-8")


def _free_name(part: str, taken: set) -> str:
    if part not in taken:
        return part
    stem, ext = posixpath.splitext(part)
    k = 1
    while f"{stem}_u{k}{ext}" in taken:
        k += 1
    return f"{stem}_u{k}{ext}"


# ---- content types and shared strings --------------------------------------------------------------------------

def _add_types(types: str, src_types: str, files: dict) -> str:
    """Content types for every part now in ``files``: Default extensions and Overrides carried from the source."""
    defaults = dict(re.findall(r'<Default\b[^>]*Extension="([^"]+)"[^>]*ContentType="([^"]+)"', src_types))
    overrides = dict(re.findall(r'<Override\b[^>]*PartName="([^"]+)"[^>]*ContentType="([^"]+)"', src_types))
    have_ext = {e.lower() for e in re.findall(r'<Default\b[^>]*Extension="([^"]+)"', types)}
    have_part = set(re.findall(r'<Override\b[^>]*PartName="([^"]+)"', types))
    additions = []
    for ext, kind in defaults.items():
        if ext.lower() not in have_ext and any(_extension(n) == ext.lower() for n in files):
            additions.append(f'<Default Extension="{ext}" ContentType="{kind}"/>')
            have_ext.add(ext.lower())
    for name in files:
        if name.endswith(".rels") or name == "[Content_Types].xml" or "/" + name in have_part:
            continue
        kind = overrides.get("/" + _original_name(name))
        if kind:
            additions.append(f'<Override PartName="/{name}" ContentType="{kind}"/>')
            have_part.add("/" + name)
    return types.replace("</Types>", "".join(additions) + "</Types>") if additions else types


def _original_name(name: str) -> str:
    return re.sub(r"_u\d+(\.\w+)$", r"\1", name)


def _extension(name: str) -> str:
    return posixpath.splitext(name)[1].lstrip(".").lower()


def _shared_strings(src: zipfile.ZipFile, mid: zipfile.ZipFile, files: dict, owned_parts: list[str]) -> str | None:
    """Original strings first (the grafted sheets index them), then the owned sheets' strings, re-indexed."""
    src_sst = _sst_part(src)
    mid_sst = _sst_part(mid)
    if not src_sst:
        return mid_sst
    src_xml = src.read(src_sst).decode("utf-8")
    items = re.findall(r"<si\b.*?</si>|<si\s*/>", src_xml, re.S)
    offset = len(items)
    extra = []
    if mid_sst:
        extra = re.findall(r"<si\b.*?</si>|<si\s*/>", mid.read(mid_sst).decode("utf-8"), re.S)
        shift = re.compile(r'(<c\b[^>]*\bt="s"[^>]*>\s*<v>)(\d+)(</v>)')
        for part in owned_parts:
            if part in files:
                xml = files[part].decode("utf-8")
                files[part] = shift.sub(lambda m: f"{m.group(1)}{int(m.group(2)) + offset}{m.group(3)}", xml) \
                    .encode("utf-8")
    head = re.match(r"(.*?<sst\b[^>]*>)", src_xml, re.S).group(1)
    head = re.sub(r'\s(count|uniqueCount)="\d+"', "", head)
    head = head.replace("<sst", f'<sst count="{offset + len(extra)}" uniqueCount="{offset + len(extra)}"', 1)
    part = mid_sst or "xl/sharedStrings.xml"
    if mid_sst and mid_sst != part:
        files.pop(mid_sst, None)
    files[part] = (head + "".join(items) + "".join(extra) + "</sst>").encode("utf-8")
    return part


def _sst_part(z: zipfile.ZipFile) -> str | None:
    for target, external in relationships(z, "xl/workbook.xml").values():
        if not external and target.endswith(".xml") and "sharedstrings" in target.lower():
            return target
    return None


def _ensure_sst_links(types: str, files: dict, part: str) -> tuple[str, dict]:
    if f'PartName="/{part}"' not in types:
        types = types.replace("</Types>", f'<Override PartName="/{part}" ContentType="{SST_TYPE}"/></Types>')
    rels_part = "xl/_rels/workbook.xml.rels"
    rels = files[rels_part].decode("utf-8")
    if SST_REL not in rels:
        rels = rels.replace("</Relationships>", f'<Relationship Id="rIdRelhealthSst" Type="{SST_REL}" '
                                                f'Target="{_relative("xl/workbook.xml", part)}"/></Relationships>')
        files[rels_part] = rels.encode("utf-8")
    return types, files


def xml_attr(tag: str, name: str) -> str | None:
    """The value of attribute ``name`` (a regular expression) in one XML start tag, still escaped."""
    match = re.search(rf'\s{name}="([^"]*)"', tag)
    return match.group(1) if match else None


def xml_unescape(text: str) -> str:
    return unescape(text, {"&quot;": '"', "&apos;": "'"})
