"""Runs Excel's Office.js custom-functions protocol through xlwings in a fresh process (xlwings Server / Lite mode).

``XLWINGS_ON_SERVER`` must be set before xlwings is first imported, so the tests that need it run this script in a
subprocess and keep the rest of the suite on plain functions. Input (a JSON file): ``{"module": "udfs" or a path
to a .py file, "payloads": [...]}``. Output (stdout, JSON): ``{"meta": custom_functions_meta(module),
"results": [custom_functions_call(payload, module) or {"error": "..."} per payload], "seconds": [...]}``.
"""

import os

os.environ["XLWINGS_ON_SERVER"] = "true"
os.environ.setdefault("XLWINGS_LICENSE_KEY", "noncommercial")

import asyncio  # noqa: E402
import importlib  # noqa: E402
import importlib.util  # noqa: E402
import inspect  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

import xlwings.server  # noqa: E402


def load(module: str):
    if module.endswith(".py"):
        spec = importlib.util.spec_from_file_location("lite_main", module)
        loaded = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loaded)
        return loaded
    return importlib.import_module(module)


def call(payload, module):
    result = xlwings.server.custom_functions_call(payload, module)
    return asyncio.run(result) if inspect.isawaitable(result) else result


def main() -> None:
    request = json.loads(pathlib.Path(sys.argv[1]).read_text())
    module = load(request["module"])
    out = {"meta": xlwings.server.custom_functions_meta(module), "results": [], "seconds": []}
    for payload in request.get("payloads", []):
        start = time.perf_counter()
        try:
            out["results"].append(call(payload, module))
        except Exception as exc:  # reported to the test, which fails with it
            out["results"].append({"error": repr(exc)})
        out["seconds"].append(time.perf_counter() - start)
    json.dump(out, sys.stdout, default=str)


if __name__ == "__main__":
    main()
