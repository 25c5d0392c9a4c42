"""Build the LibreOffice Calc extension: ``python3 -m addin.libreoffice.build [OUT.oxt]`` (default dist/relhealth.oxt).

The extension exposes every Excel function of ``udfs`` (``udfs.FUNCTIONS``: Excel name -> Python function) under
the same name. Nothing is written by hand per function:

1. ``udfs/`` is read with ``ast`` (not imported, so building needs neither pandas nor LibreOffice's Python):
   names, parameters (required or optional: with a default), descriptions from the docstrings and the argument
   help (``_DOCS``).
2. IDL for the interface ``org.relhealth.calc.XRelHealth`` (one method per function, each returning
   ``sequence<sequence<any>>``; a required argument is a ``com.sun.star.table.XCellRange``, an optional one an
   ``any``, which Calc lets the user leave out) is generated and compiled with ``unoidl-write`` (Debian:
   libreoffice-dev) against LibreOffice's ``types.rdb`` (+ ``types/offapi.rdb``) into ``XRelHealth.rdb``.
3. The .oxt is zipped from ``oxt/`` (description.xml, manifest, .components, the component relhealth_calc.py), the
   function table ``relhealth_functions.json``, and ``pythonpath/`` holding the engine packages the UDFs import
   (``udfs``, ``relhealth``, ...) copied from the repo, so the extension runs the same code as the Excel add-in.

Options: ``--site-packages DIR`` (repeatable) bakes folders with pandas/numpy/scipy into the extension's
``site-paths.txt``; ``--idl`` prints the generated IDL and exits.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STATIC = HERE / "oxt"
MODULE = "org.relhealth.calc"
INTERFACE = f"{MODULE}.XRelHealth"
PROJECT_PACKAGES = ("relhealth", "udfs", "charts", "addin")
MATRIX = "sequence< sequence< any > >"  # what every function returns
# A required argument (the account table) comes as the range itself: Calc will not hand a range holding an error
# cell (#N/A, ...) to an add-in as values, and from the range object the component can read it, errors included.
CELL_RANGE = "com::sun::star::table::XCellRange"
IDL_KEYWORDS = {
    "any", "attribute", "boolean", "bound", "byte", "char", "const", "constants", "constrained", "double", "enum",
    "exception", "false", "float", "get", "hyper", "in", "inout", "interface", "long", "maybeambiguous",
    "maybedefault", "maybevoid", "module", "oneway", "optional", "out", "property", "published", "raises",
    "readonly", "removable", "sequence", "service", "set", "short", "singleton", "string", "struct", "transient",
    "true", "type", "typedef", "unsigned", "void",
}
FUNCTION_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class BuildError(RuntimeError):
    pass


@dataclass
class Param:
    name: str
    optional: bool
    description: str = ""


@dataclass
class Function:
    name: str         # the Excel / Calc name, e.g. CHURN_RISK
    python: str       # the Python function, e.g. churn_risk
    description: str
    params: list[Param] = field(default_factory=list)


# ---------------------------------------------------------------- reading udfs/
def _doc_parts(doc: str, names: list[str]) -> tuple[str, dict[str, str]]:
    """First paragraph of a docstring (one line) and per-argument descriptions ("name: text" / "name -- text")."""
    doc = (doc or "").strip()
    paragraphs = re.split(r"\n\s*\n", doc)
    summary = " ".join(line.strip() for line in paragraphs[0].splitlines()) if doc else ""
    found: dict[str, str] = {}
    current = None
    for line in doc.splitlines():
        m = re.match(r"^\s*[*-]?\s*`{0,2}(\w+)`{0,2}\s*(?:\([^)]*\))?\s*(?::|--|—|-)\s+(.+)$", line)
        if m and m.group(1) in names and m.group(1) not in found:
            current = m.group(1)
            found[current] = m.group(2).strip()
        elif current and line.strip() and line.startswith((" " * 8, "\t\t")):
            found[current] += " " + line.strip()
        else:
            current = None
    return summary, found


def _module_defs(package: Path) -> dict[str, tuple[ast.FunctionDef, dict[str, str]]]:
    """Top-level functions of every module of a package, each with the argument help of its module: the
    string -> string dicts defined there (such as ``_DOCS = {"accounts": "Account table ..."}``), merged."""
    defs: dict[str, tuple[ast.FunctionDef, dict[str, str]]] = {}
    for py in sorted(package.glob("*.py")):
        tree = ast.parse(py.read_text(encoding="utf-8"), filename=str(py))
        docs: dict[str, str] = {}
        for node in tree.body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and isinstance(node.value, ast.Dict):
                try:
                    value = ast.literal_eval(node.value)
                except ValueError:
                    continue
                if value and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
                    for k, v in value.items():
                        docs.setdefault(k, v)
        for node in tree.body:
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                defs.setdefault(node.name, (node, docs))
    return defs


def _registry(init: Path) -> dict[str, str] | None:
    """``FUNCTIONS = {"CHURN_RISK": churn_risk, ...}`` in udfs/__init__.py: Excel name -> Python name."""
    if not init.is_file():
        return None
    for node in ast.parse(init.read_text(encoding="utf-8")).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(
            node, "target", None)
        if isinstance(target, ast.Name) and target.id == "FUNCTIONS" and isinstance(node.value, ast.Dict):
            found = {}
            for k, v in zip(node.value.keys, node.value.values):
                if isinstance(k, ast.Constant) and isinstance(k.value, str):
                    found[k.value] = v.id if isinstance(v, ast.Name) else v.attr if isinstance(v, ast.Attribute) \
                        else None
            return found
    return None


def read_functions(package: Path) -> list[Function]:
    """The worksheet functions of the udfs package, read from its source (not imported).

    The Excel names come from ``FUNCTIONS`` in udfs/__init__.py (Excel name -> function); without it, from
    the top-level functions of udfs/functions.py with an upper-case name."""
    if not (package / "functions.py").is_file():
        raise BuildError(f"{package / 'functions.py'} not found: the extension exposes the udfs functions")
    defs = _module_defs(package)
    registry = _registry(package / "__init__.py")
    if registry is None:
        registry = {name: name for name in defs if FUNCTION_NAME.match(name)}
    functions = []
    for excel_name, py_name in registry.items():
        node, arg_docs = defs.get(py_name or "", (None, {}))
        if node is None:
            raise BuildError(f"{excel_name}: its function {py_name!r} is not defined at the top of a udfs module")
        if not FUNCTION_NAME.match(excel_name):
            raise BuildError(f"{excel_name!r} is not a worksheet function name (A-Z, 0-9, _)")
        args = node.args
        if args.vararg or (args.kwonlyargs and any(d is None for d in args.kw_defaults)):
            raise BuildError(f"{excel_name}: *args and required keyword-only arguments are not supported in Calc")
        positional = args.posonlyargs + args.args
        first_default = len(positional) - len(args.defaults)
        params = [Param(a.arg, i >= first_default) for i, a in enumerate(positional)]
        params += [Param(a.arg, True) for a in args.kwonlyargs]
        summary, described = _doc_parts(ast.get_docstring(node) or "", [p.name for p in params])
        for p in params:
            p.description = described.get(p.name) or arg_docs.get(p.name) or p.name.replace("_", " ")
        functions.append(Function(excel_name, py_name, summary or excel_name, params))
    if not functions:
        raise BuildError(f"no worksheet functions found in {package}")
    return functions


# ---------------------------------------------------------------- IDL and type library
def _idl_name(name: str) -> str:
    """A parameter name unoidl-write accepts (no underscores: horizon_days -> horizonDays; no keywords)."""
    head, *rest = [part for part in name.split("_") if part] or ["arg"]
    name = head + "".join(part[:1].upper() + part[1:] for part in rest)
    if not name[0].isalpha():
        name = "a" + name
    return name + "Arg" if name.lower() in IDL_KEYWORDS else name


def make_idl(functions: list[Function]) -> str:
    lines = ["// Generated by addin/libreoffice/build.py from udfs/: do not edit.", ""]
    parts = MODULE.split(".")
    lines.append(" ".join(f"module {p} {{" for p in parts))
    lines.append(f"    interface {INTERFACE.rsplit('.', 1)[1]} : com::sun::star::uno::XInterface")
    lines.append("    {")
    for f in functions:
        args = ", ".join(f"[in] {'any' if p.optional else CELL_RANGE} {_idl_name(p.name)}" for p in f.params)
        lines.append(f"        {MATRIX} {f.name}({args});")
    lines.append("    };")
    lines.append(" ".join("};" for _ in parts))
    return "\n".join(lines) + "\n"


def _find_program_dir() -> Path:
    candidates = [os.environ.get("LO_PROGRAM_DIR", "")]
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    if soffice:
        candidates.append(str(Path(os.path.realpath(soffice)).parent))
    candidates += ["/usr/lib/libreoffice/program", "/opt/libreoffice/program",
                   "/Applications/LibreOffice.app/Contents/Resources"]
    for c in candidates:
        if c and (Path(c) / "types.rdb").is_file():
            return Path(c)
    raise BuildError("LibreOffice's types.rdb not found: install LibreOffice (bash .ci/install-libreoffice.sh) "
                     "or set LO_PROGRAM_DIR to the folder holding types.rdb")


def _find_unoidl_write(program_dir: Path) -> str:
    candidates = [os.environ.get("UNOIDL_WRITE", ""), shutil.which("unoidl-write") or "",
                  str(program_dir.parent / "sdk" / "bin" / "unoidl-write"), str(program_dir / "unoidl-write"),
                  "/usr/lib/libreoffice/sdk/bin/unoidl-write"]
    for c in candidates:
        if c and os.access(c, os.X_OK):
            return c
    raise BuildError("unoidl-write not found: install the LibreOffice SDK (Debian: apt-get install libreoffice-dev) "
                     "or set UNOIDL_WRITE")


def compile_idl(idl: str, out: Path) -> None:
    program = _find_program_dir()
    tool = _find_unoidl_write(program)
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "XRelHealth.idl"
        src.write_text(idl, encoding="utf-8")
        registries = [str(program / "types.rdb")] + [str(p) for p in (program / "types" / "offapi.rdb",) if p.is_file()]
        proc = subprocess.run([tool, *registries, str(src), str(out)], capture_output=True, text=True, check=False)
        if proc.returncode != 0 or not out.is_file():
            raise BuildError(f"unoidl-write failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")


# ---------------------------------------------------------------- the engine packages to bundle
def _imported_packages(package_dir: Path) -> set[str]:
    found = set()
    for py in package_dir.rglob("*.py"):
        try:
            tree = ast.parse(py.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                found.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return found & set(PROJECT_PACKAGES)


def third_party_imports(root: Path, packages: list[str]) -> list[str]:
    """Libraries the bundled packages import outside ``try`` blocks (numpy, pandas, scipy): what LibreOffice's
    Python must provide. xlwings is left out: inside Calc its decorators are stood in for."""
    found: set[str] = set()
    for name in packages:
        for py in (root / name).rglob("*.py"):
            if "libreoffice" in py.parts:
                continue
            tree = ast.parse(py.read_text(encoding="utf-8"))
            guarded = {id(n) for t in ast.walk(tree) if isinstance(t, ast.Try) for n in ast.walk(t)}
            for node in ast.walk(tree):
                if id(node) in guarded:
                    continue
                if isinstance(node, ast.Import):
                    found.update(a.name.split(".")[0] for a in node.names)
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    found.add(node.module.split(".")[0])
    return sorted(found - set(sys.stdlib_module_names) - set(PROJECT_PACKAGES) - {"xlwings", "__future__"})


def packages_to_bundle(root: Path) -> list[str]:
    """udfs plus every project package it imports, transitively (relhealth, ...)."""
    todo, done = ["udfs"], []
    while todo:
        name = todo.pop()
        if name in done or not (root / name).is_dir():
            continue
        done.append(name)
        todo += sorted(_imported_packages(root / name) - set(done))
    return sorted(done)


def _copy_package(src: Path, dest: Path) -> None:
    skip = {"libreoffice"} if src.name == "addin" else set()
    for path in sorted(src.rglob("*")):
        rel = path.relative_to(src)
        if "__pycache__" in rel.parts or (rel.parts and rel.parts[0] in skip):
            continue
        if path.is_file() and path.suffix in (".py", ".typed", ".json", ".csv", ".txt"):
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)


def _version(root: Path) -> str:
    init = root / "relhealth" / "__init__.py"
    if not init.is_file():
        return "0.0.0"
    m = re.search(r"__version__\s*=\s*['\"]([^'\"]+)['\"]", init.read_text(encoding="utf-8"))
    return m.group(1) if m else "0.0.0"


# ---------------------------------------------------------------- putting it together
def build(out: str | os.PathLike, root: str | os.PathLike = REPO, site_packages: list[str] | None = None) -> Path:
    """Build the .oxt from the project at ``root`` into ``out``; returns the path written."""
    root = Path(root).resolve()
    out = Path(out).resolve()
    if not (STATIC / "relhealth_calc.py").is_file():
        raise BuildError(f"{STATIC} is missing: build the extension from a checkout of the relhealth repository")
    functions = read_functions(root / "udfs")
    bundled = packages_to_bundle(root)
    table = {
        "interface": INTERFACE,
        "package": "udfs",
        "requires": third_party_imports(root, bundled),
        "functions": [{"name": f.name, "python": f.python, "description": f.description,
                       "params": [{"name": p.name, "optional": p.optional, "description": p.description}
                                  for p in f.params]} for f in functions],
    }
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp) / "oxt"
        shutil.copytree(STATIC, stage, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        desc = stage / "description.xml"
        desc.write_text(re.sub(r'<version value="[^"]*"/>', f'<version value="{_version(root)}"/>',
                               desc.read_text(encoding="utf-8")), encoding="utf-8")
        (stage / "relhealth_functions.json").write_text(json.dumps(table, indent=1), encoding="utf-8")
        compile_idl(make_idl(functions), stage / "XRelHealth.rdb")
        for name in bundled:
            _copy_package(root / name, stage / "pythonpath" / name)
        if site_packages:
            (stage / "site-paths.txt").write_text("\n".join(str(Path(p).resolve()) for p in site_packages) + "\n",
                                                  encoding="utf-8")
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = out.with_suffix(out.suffix + ".part")
        with zipfile.ZipFile(tmp_out, "w", zipfile.ZIP_DEFLATED) as zf:
            for path in sorted(stage.rglob("*")):
                if path.is_file():
                    zf.write(path, path.relative_to(stage).as_posix())
        os.replace(tmp_out, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m addin.libreoffice.build", description=__doc__.split("\n")[0])
    parser.add_argument("out", nargs="?", default="dist/relhealth.oxt", help="the .oxt to write (dist/relhealth.oxt)")
    parser.add_argument("--root", default=str(REPO), help="project root holding udfs/ and relhealth/")
    parser.add_argument("--site-packages", action="append", default=[],
                        help="folder with pandas/numpy/scipy for LibreOffice's Python, baked into the extension")
    parser.add_argument("--idl", action="store_true", help="print the generated IDL and exit")
    args = parser.parse_args(argv)
    try:
        if args.idl:
            print(make_idl(read_functions(Path(args.root) / "udfs")), end="")
            return 0
        path = build(args.out, root=args.root, site_packages=args.site_packages)
    except BuildError as exc:
        print(f"build: {exc}", file=sys.stderr)
        return 1
    n = len(json.loads(zipfile.ZipFile(path).read("relhealth_functions.json"))["functions"])
    print(f"wrote {path} ({n} functions)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
