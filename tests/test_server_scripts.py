"""xlwings Server and Lite see the refresh button: the script is registered through xlwings' own Office.js code."""

import json
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]

PROBE = """
import importlib, json
from xlwings.pro.udfs_officejs import custom_scripts_meta
print(json.dumps(custom_scripts_meta(importlib.import_module("addin.server.custom_scripts"))))
"""


def test_server_custom_scripts_register_the_refresh_button():
    env = dict(os.environ, XLWINGS_ON_SERVER="true", XLWINGS_LICENSE_KEY="noncommercial",
               PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    meta = json.loads(done.stdout.strip().splitlines()[-1])
    assert [entry["function_name"] for entry in meta] == ["refresh_book"]
