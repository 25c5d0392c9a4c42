"""LibreOffice Calc add-in: the relhealth worksheet functions (CHURN_RISK, LOYALTY_TIER, ...) in Calc.

This file is the Python UNO component packed into relhealth.oxt. It has no logic of its own: each Calc call is
forwarded to the function of the same Excel name in ``udfs.FUNCTIONS`` (udfs and the relhealth engine are bundled
in the extension's ``pythonpath/``), after converting Calc's values to the raw 2-D lists the UDFs take, and the
2-D list the UDF returns is handed back to Calc. The function table (names, arguments, descriptions) is
``relhealth_functions.json``, written next to this file by ``addin/libreoffice/build.py`` from ``udfs/``; the UNO
interface ``org.relhealth.calc.XRelHealth`` is compiled from IDL generated from the same table.

Third-party libraries (pandas, numpy, scipy) come from the Python that runs inside LibreOffice. When they are
installed elsewhere (a venv, another Python of the same version), list their site-packages folders in the
environment variable RELHEALTH_PYTHONPATH (os.pathsep-separated) or, one per line, in
``~/.config/relhealth/pythonpath.txt``; folders baked in at build time (``build --site-packages``) come last.

Errors never escape: a failing call returns one readable text cell ("relhealth: ..."), never a dialog.
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import os
import sys
import threading
import traceback

import uno
import unohelper
from com.sun.star.lang import XLocalizable, XServiceInfo, XServiceName
from com.sun.star.sheet import XAddIn, XCompatibilityNames

IMPLEMENTATION_NAME = "org.relhealth.calc.RelHealthAddIn"
SERVICE_NAME = "org.relhealth.calc.RelHealth"
ADDIN_SERVICE = "com.sun.star.sheet.AddIn"
CATEGORY = "Add-In"
ERROR_RESULT = uno.getConstantByName("com.sun.star.sheet.FormulaResult.ERROR")
# Calc's error codes (cell.getError()) -> the error text Excel shows and hands to Python.
ERROR_TEXT = {32767: "#N/A", 519: "#VALUE!", 532: "#DIV/0!", 524: "#REF!", 525: "#NAME?", 503: "#NUM!",
              521: "#NULL!"}

_HERE = os.path.dirname(os.path.abspath(__file__))
_EPOCH = _dt.datetime(1899, 12, 30)  # Calc's (and Excel's) day 0 for date serial numbers
_lock = threading.Lock()


def _load_table() -> dict:
    with open(os.path.join(_HERE, "relhealth_functions.json"), encoding="utf-8") as fh:
        return json.load(fh)


TABLE = _load_table()
FUNCTIONS = {f["name"]: f for f in TABLE["functions"]}


# ---------------------------------------------------------------- where the engine and its libraries come from
def _config_paths() -> list[str]:
    paths: list[str] = []
    env = os.environ.get("RELHEALTH_PYTHONPATH", "")
    paths += [p for p in env.split(os.pathsep) if p.strip()]
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    for cfg in (os.path.join(base, "relhealth", "pythonpath.txt"), os.path.join(_HERE, "site-paths.txt")):
        try:
            with open(cfg, encoding="utf-8") as fh:
                paths += [line.strip() for line in fh if line.strip() and not line.lstrip().startswith("#")]
        except OSError:
            pass
    return paths


def _xlwings_stand_in():
    """udfs/functions.py decorates with xlwings (func, arg, ret), which only tag the functions for Excel. When
    xlwings is not installed for LibreOffice's Python, stand-ins that return the function unchanged do."""
    try:
        import xlwings  # noqa: F401 - the real one, when LibreOffice's Python has it
        return
    except Exception:  # noqa: BLE001, S110 - not installed (or broken): the stand-ins below
        pass
    import types

    def tag(*args, **kwargs):
        if len(args) == 1 and callable(args[0]) and not kwargs:
            return args[0]  # @func
        return lambda f: f  # @arg("x", ...), @ret(...), @func(...)

    shim = types.ModuleType("xlwings")
    shim.__doc__ = "relhealth's stand-in for xlwings' UDF decorators inside LibreOffice"
    shim.func = shim.arg = shim.ret = tag
    sys.modules["xlwings"] = shim


class MissingLibraries(ImportError):
    pass


_functions = None


def _udf(name: str):
    """The Python function behind an Excel name: udfs.FUNCTIONS[name], imported once. The bundled engine comes
    first on sys.path, then the configured site-packages folders."""
    global _functions
    if _functions is None:
        with _lock:
            if _functions is None:
                bundled = os.path.join(_HERE, "pythonpath")
                extra = [p for p in _config_paths() if os.path.isdir(p)]
                for p in reversed([bundled] + extra):
                    if p in sys.path:
                        sys.path.remove(p)
                    sys.path.insert(0, p)
                import importlib

                missing = []
                for module in TABLE.get("requires", ()):
                    try:
                        importlib.import_module(module)
                    except ImportError:
                        missing.append(module)
                    except Exception as exc:  # found but broken, e.g. a wheel built for another Python
                        missing.append(f"{module} ({type(exc).__name__}: {exc})")
                if missing:
                    raise MissingLibraries(", ".join(missing))
                _xlwings_stand_in()

                package = importlib.import_module(TABLE.get("package", "udfs"))
                registry = getattr(package, "FUNCTIONS", None)
                if not isinstance(registry, dict):
                    registry = {f["name"]: getattr(importlib.import_module(package.__name__ + ".functions"),
                                                   f["python"]) for f in TABLE["functions"]}
                _functions = registry
    return _functions[name]


# ---------------------------------------------------------------- value conversion (Calc <-> raw Python lists)
def _cell_in(value):
    """A Calc value as the UDFs see a raw cell: float, str, bool or None (empty)."""
    if isinstance(value, tuple):  # an array inside an `any` argument
        return [[_cell_in(v) for v in row] for row in value] if value and isinstance(value[0], tuple) else [
            _cell_in(v) for v in value]
    if isinstance(value, str) and value == "":
        return None
    if isinstance(value, uno.Any):
        return _cell_in(value.value)
    return value


def _cells_in(cell_range):
    """A range argument (declared XCellRange) as a 2-D list of raw cell values. Error cells (#N/A, #DIV/0!, ...)
    come as their text, as Excel hands them to the functions: getDataArray leaves them empty, so they are looked
    up separately."""
    rows = [[_cell_in(v) for v in row] for row in cell_range.getDataArray()]
    errors = cell_range.queryFormulaCells(ERROR_RESULT)
    if errors.getCount():
        origin = cell_range.getRangeAddress()
        cells = errors.getCells().createEnumeration()
        while cells.hasMoreElements():
            cell = cells.nextElement()
            where = cell.getCellAddress()
            code = cell.getError()  # (getString gives "..." for an error cell while Calc is calculating)
            text = ERROR_TEXT.get(code, f"Err:{code}")
            rows[where.Row - origin.StartRow][where.Column - origin.StartColumn] = text
    return rows


def _range_in(value):
    if hasattr(value, "getDataArray"):
        return _cells_in(value)
    if isinstance(value, tuple):
        if value and isinstance(value[0], tuple):
            return [[_cell_in(v) for v in row] for row in value]
        return [[_cell_in(v) for v in value]]
    return [[_cell_in(value)]]


def _cell_out(value):
    """A UDF result cell as Calc takes it: float or str. None and NaN become "" (a blank cell, as xlwings shows
    them in Excel; Calc would show 0 for an empty array element), dates serial numbers, booleans 1 and 0."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        # Calc has no boolean cell type (TRUE is 1); and a boolean inside a returned array is read wrongly by
        # Calc 25.2 (ScSequenceToMatrix: FALSE comes out TRUE), so booleans go back as 1 and 0.
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):  # ints too: Calc ignores a 64-bit integer in a result
        value = float(value)
        return "" if math.isnan(value) else (value if math.isfinite(value) else str(value))
    if isinstance(value, _dt.datetime):
        if value.tzinfo is not None:
            value = value.replace(tzinfo=None)
        return (value - _EPOCH).total_seconds() / 86400.0
    if isinstance(value, _dt.date):
        return float((value - _EPOCH.date()).days)
    # numpy / pandas scalars without importing them
    item = getattr(value, "item", None)
    if callable(item):
        try:
            return _cell_out(item())
        except Exception:
            pass
    to_py = getattr(value, "to_pydatetime", None)
    if callable(to_py):
        try:
            return _cell_out(to_py())
        except Exception:
            return ""  # NaT
    return str(value)


def _result_out(result):
    """A UDF's return value (a 2-D list, or one value) as a rectangular tuple of tuples."""
    if not isinstance(result, (list, tuple)):
        result = [[result]]
    elif result and not isinstance(result[0], (list, tuple)):
        result = [list(result)]
    rows = [[_cell_out(v) for v in row] for row in result] or [[""]]
    width = max(len(r) for r in rows) or 1
    return tuple(tuple(r + [""] * (width - len(r))) for r in rows)


def _error(name, exc) -> tuple:
    msg = str(exc).strip() or type(exc).__name__
    if isinstance(exc, MissingLibraries):
        msg = (f"{msg} not found by LibreOffice's Python {sys.version.split()[0]}: install them for it, or list "
               "the folder holding them in ~/.config/relhealth/pythonpath.txt or RELHEALTH_PYTHONPATH (see "
               "docs/libreoffice.md)")
    if os.environ.get("RELHEALTH_TRACE"):
        traceback.print_exc()
    return ((f"relhealth: {name}: {msg}",),)


def _invoke(name: str, args: tuple):
    """One Calc call: never raises (an exception would reach Calc as #VALUE! at best)."""
    try:
        if os.environ.get("RELHEALTH_TRACE"):
            import time

            start = time.perf_counter()
            result = _invoke_inner(name, args)
            print(f"relhealth: {name} {time.perf_counter() - start:.3f} s", file=sys.stderr, flush=True)
            return result
        return _invoke_inner(name, args)
    except BaseException as exc:  # noqa: BLE001 - nothing may escape into Calc
        return _error(name, exc)


def _invoke_inner(name: str, args: tuple):
    spec = FUNCTIONS[name]
    func = _udf(name)
    positional, keywords = [], {}
    for param, value in zip(spec["params"], args):
        if not param["optional"]:  # declared XCellRange: always a 2-D list
            positional.append(_range_in(value))
            continue
        value = _cell_in(value)  # declared any: a scalar, or a 2-D list when a range is given
        if value is not None:  # void = omitted: the UDF's default applies
            keywords[param["name"]] = value
    return _result_out(func(*positional, **keywords))


# ---------------------------------------------------------------- the UNO component
def _method(name):
    def call(self, *args):
        return _invoke(name, args)

    call.__name__ = name
    call.__doc__ = FUNCTIONS[name].get("description", "")
    return call


def _interface():
    return uno.getClass(TABLE["interface"])


class RelHealthAddIn(unohelper.Base, XAddIn, XServiceName, XServiceInfo, XCompatibilityNames, XLocalizable):
    def __init__(self, ctx=None, *args):
        self.ctx = ctx
        self.locale = uno.createUnoStruct("com.sun.star.lang.Locale")

    # XServiceName
    def getServiceName(self):
        return SERVICE_NAME

    # XServiceInfo
    def getImplementationName(self):
        return IMPLEMENTATION_NAME

    def supportsService(self, name):
        return name in (SERVICE_NAME, ADDIN_SERVICE)

    def getSupportedServiceNames(self):
        return (SERVICE_NAME, ADDIN_SERVICE)

    # XLocalizable
    def setLocale(self, locale):
        self.locale = locale

    def getLocale(self):
        return self.locale

    # XAddIn
    def getProgrammaticFuntionName(self, display_name):  # sic: the UNO spelling
        upper = (display_name or "").upper()
        return upper if upper in FUNCTIONS else ""

    def getDisplayFunctionName(self, name):
        return name if name in FUNCTIONS else ""

    def getFunctionDescription(self, name):
        return FUNCTIONS[name].get("description", "") if name in FUNCTIONS else ""

    def _param(self, name, index):
        params = FUNCTIONS[name]["params"] if name in FUNCTIONS else []
        return params[index] if 0 <= index < len(params) else None

    def getDisplayArgumentName(self, name, index):
        param = self._param(name, index)
        return param["name"] if param else ""

    def getArgumentDescription(self, name, index):
        param = self._param(name, index)
        return param.get("description", "") if param else ""

    def getProgrammaticCategoryName(self, name):
        return CATEGORY

    def getDisplayCategoryName(self, name):
        return CATEGORY

    # XCompatibilityNames: the Excel name, so an .xlsx keeps CHURN_RISK(...) on load and save
    def getCompatibilityNames(self, name):
        if name not in FUNCTIONS:
            return ()
        names = []
        for lang, country in (("en", "US"), ("en", "")):
            entry = uno.createUnoStruct("com.sun.star.sheet.LocalizedName")
            entry.Locale = uno.createUnoStruct("com.sun.star.lang.Locale", lang, country, "")
            entry.Name = name
            names.append(entry)
        return tuple(names)


def _make_class():
    """The component class: RelHealthAddIn plus the generated interface and one method per UDF."""
    namespace = {name: _method(name) for name in FUNCTIONS}
    return type("RelHealth", (RelHealthAddIn, _interface()), namespace)


g_ImplementationHelper = unohelper.ImplementationHelper()
g_ImplementationHelper.addImplementation(_make_class(), IMPLEMENTATION_NAME, (SERVICE_NAME, ADDIN_SERVICE))
