"""Generates classic xlwings' VBA wrappers for ``udfs`` on Linux and prints them (with each function's argument
options as JSON on the last line).

``xlwings.udfs`` (the classic, COM side) imports pythoncom, pywintypes and win32com at module level for calling
Excel; ``generate_vba_wrapper`` itself only reads each function's ``__xlfunc__`` and writes text. So those three
modules are stubbed (nothing of them is called), and ``xlwings.func/arg/ret`` are bound to the classic decorators
exactly as ``import xlwings`` binds them on Windows, before ``udfs`` is imported.
"""

import io
import json
import os
import pathlib
import sys
import types

os.environ.pop("XLWINGS_ON_SERVER", None)  # classic decorators: never the Office.js ones, whatever the caller set
ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

pythoncom = types.ModuleType("pythoncom")
pythoncom.CoInitialize = lambda: None
win32com = types.ModuleType("win32com")
win32com.client = types.ModuleType("win32com.client")
win32com.client.Dispatch = lambda *args: None
sys.modules.update({"pythoncom": pythoncom, "pywintypes": types.ModuleType("pywintypes"), "win32com": win32com,
                    "win32com.client": win32com.client})

import xlwings  # noqa: E402
import xlwings.udfs as classic  # noqa: E402

xlwings.func, xlwings.arg, xlwings.ret = classic.xlfunc, classic.xlarg, classic.xlret

import udfs  # noqa: E402


class Workbook:
    Name = sys.argv[1] if len(sys.argv) > 1 else "relhealth.xlsm"


out = io.StringIO()
classic.generate_vba_wrapper("udfs", udfs, out, Workbook())
print(out.getvalue())
print(json.dumps({f.__name__: {"args": [(a["name"], a["options"], a["doc"], "optional" in a)
                                        for a in f.__xlfunc__["args"]], "doc": f.__xlfunc__["ret"]["doc"]}
                  for f in udfs.FUNCTIONS.values()}))
