"""The design card: a pure engine package, thin layers on top, README opening with the two commands."""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ENGINE_FORBIDDEN = {"xlwings", "openpyxl", "matplotlib"}


def _imported_modules(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "relhealth").rglob("*.py")), ids=lambda p: p.name)
def test_engine_module_imports_no_excel_or_plotting_library(path):
    assert not _imported_modules(path) & ENGINE_FORBIDDEN


@pytest.mark.parametrize("name", ["pyproject.toml", "addin", "workbook_template.xlsx", "udfs", "charts", "tests",
                                  "README.md", "relhealth", "bench"])
def test_design_card_entries_exist(name):
    assert (ROOT / name).exists()


def test_readme_opens_with_install_and_test_commands():
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = text.split("```")[1]
    commands = [line for line in first_block.splitlines()[1:] if line.strip()]
    assert len(commands) == 2
    assert "relhealth demo" in commands[0] and "pip install" in commands[0]
    assert "pytest" in commands[1]


def test_ci_runs_readme_test_command():
    readme_test = (ROOT / "README.md").read_text(encoding="utf-8").split("```")[1].splitlines()[2]
    test_command = readme_test.split("&&")[-1].split("#")[0].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text(encoding="utf-8")
