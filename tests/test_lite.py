"""xlwings Lite's main.py and xlwings Server's custom_functions package serve exactly relhealth's functions.

Both run the Office.js protocol with ``XLWINGS_ON_SERVER=true`` (set by Lite and by xlwings Server before xlwings
is imported), here in a subprocess (tests/officejs_worker.py)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import pytest

import udfs
from test_udfs_officejs import payload, run_protocol
from udf_books import book_args, sample_sheets

ROOT = pathlib.Path(__file__).resolve().parents[1]
LITE = ROOT / "addin" / "lite"
SERVER = ROOT / "addin" / "server"


def _served(module_path: pathlib.Path, tmp_path) -> dict:
    args = book_args(sample_sheets(accounts=30), "serial")
    call = payload("churn_risk", args["accounts"], None, args["orders"], args["events"], args["settings"])
    return run_protocol(str(module_path), [call], tmp_path) | {"rows": len(args["accounts"]) - 1}


@pytest.mark.parametrize("module_path", [LITE / "main.py", SERVER / "custom_functions" / "__init__.py"],
                         ids=["lite main.py", "server custom_functions"])
def test_module_serves_every_function(module_path, tmp_path):
    out = _served(module_path, tmp_path)
    assert sorted(f["name"] for f in out["meta"]["functions"]) == sorted(udfs.FUNCTIONS)
    churn = out["results"][0]
    assert len(churn) == out["rows"] and all(isinstance(row[0], (float, str)) for row in churn)


@pytest.mark.parametrize("module_path", [LITE / "main.py", SERVER / "custom_functions" / "__init__.py"],
                         ids=["lite main.py", "server custom_functions"])
def test_module_re_exports_by_name(module_path):
    text = module_path.read_text()
    assert "import *" not in text
    for fn in udfs.FUNCTIONS.values():
        assert f"    {fn.__name__},\n" in text


def test_lite_requirements_pin_xlwings_and_relhealth():
    lines = [line.strip() for line in (LITE / "requirements.txt").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    names = {line.split("==")[0] for line in lines}
    assert names == {"xlwings", "relhealth"} and all("==" in line for line in lines)
    import xlwings

    assert f"xlwings=={xlwings.__version__}" in lines


def test_project_builds_a_pure_python_wheel_with_the_functions(tmp_path):
    """Lite installs pure-Python wheels only: the project's wheel must be py3-none-any and carry udfs/."""
    import shutil
    import zipfile

    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    for package in ("relhealth", "udfs", "charts", "addin"):
        shutil.copytree(ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "wheel", str(source), "--no-deps",
                           "-q", "-w", str(tmp_path / "dist")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "udfs/functions.py" in names and "relhealth/settings.py" in names
    assert not [n for n in names if n.endswith((".so", ".pyd", ".dylib"))]


def test_xlwings_server_loads_the_project_functions(tmp_path):
    """xlwings Server's own router (a test dependency) serves our functions from addin/server."""
    import importlib.util

    if importlib.util.find_spec("xlwings_server") is None:  # not imported here: it sets XLWINGS_ON_SERVER
        pytest.skip("xlwings-server is not installed (pip install -e '.[test]' installs it)")
    code = ("import asyncio\n"
            "from xlwings_server.routers import xlwings as r\n"
            "meta = asyncio.run(r.custom_functions_meta())\n"
            "print(r.custom_functions.__file__)\n"
            "print(sorted(f['name'] for f in meta['functions']))\n")
    env = {**os.environ, "XLWINGS_PROJECT_DIR": str(SERVER), "XLWINGS_LICENSE_KEY": "noncommercial",
           "XLWINGS_FUNCTIONS_NAMESPACE": "", "XLWINGS_ENVIRONMENT": "prod",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    path, names = done.stdout.strip().splitlines()[-2:]
    assert pathlib.Path(path) == SERVER / "custom_functions" / "__init__.py"
    assert names == str(sorted(udfs.FUNCTIONS))
