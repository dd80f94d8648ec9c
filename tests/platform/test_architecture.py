"""The architecture is checked, not only described: the import contracts in `.importlinter`
(doors above services above search and events above models; no cycles between the service
packages) hold, and breaking them is caught.

The second test proves the first can fail: it copies the Python tree into a temporary folder,
adds one import that goes the wrong way (or closes a cycle), and expects `lint-imports` to
refuse it and to name the offending import.
"""
from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True,
                          timeout=300, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(cwd)})


def _copy_tree(dest: Path) -> Path:
    shutil.copytree(ROOT / "app", dest / "app", ignore=shutil.ignore_patterns(
        "static", "templates", "__pycache__", "*.pyc"))
    shutil.copy(ROOT / ".importlinter", dest / ".importlinter")
    return dest


def test_the_import_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(("module", "line", "named"), [
    # a model that reaches up into a service
    ("app/models/_wrong.py", "from app.services import access\n", "app.models._wrong -> app.services.access"),
    # a service that reaches up into a door
    ("app/services/_wrong.py", "import app.views.posts\n", "app.services._wrong -> app.views.posts"),
])
def test_an_import_against_the_layers_fails_the_lint(tmp_path, module, line, named):
    tree = _copy_tree(tmp_path)
    (tree / module).write_text(f'"""A deliberately wrong import."""\n{line}')
    result = _lint(tree)
    assert result.returncode != 0, result.stdout
    assert "BROKEN" in result.stdout
    assert named in result.stdout


def _modules(*folders: str):
    for folder in folders:
        paths = sorted((ROOT / folder).rglob("*.py"))
        assert len(paths) > 10, f"no modules found under {ROOT / folder}"
        for path in paths:
            yield path, ast.parse(path.read_text())


def test_no_module_over_500_lines_without_a_reason_in_its_docstring():
    """A long module says why in its docstring, in a line that starts with "Over 500 lines:"."""
    unexplained = []
    for path, tree in _modules("app"):
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(tree) or ""
        if lines > 500 and not any(line.startswith("Over 500 lines:") for line in doc.splitlines()):
            unexplained.append(f"{path.relative_to(ROOT)} ({lines} lines)")
    assert not unexplained, unexplained


def test_every_public_service_function_has_a_docstring():
    """What it returns and what it raises is read from the docstring, so every public function
    of a service module has one."""
    missing = []
    for path, tree in _modules("app/services"):
        for node in tree.body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_") \
                    and not ast.get_docstring(node):
                missing.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not missing, missing


def test_no_private_name_is_used_across_modules():
    """`from x import _name` and `module._name` reach into another module's private parts."""
    app_modules = {".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
                   for path, _tree in _modules("app")}
    found = []
    for path, tree in _modules("app"):
        imported_modules = {}
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("app"):
                for alias in node.names:
                    full = f"{node.module}.{alias.name}"
                    if full in app_modules:
                        imported_modules[alias.asname or alias.name] = full
                    elif alias.name.startswith("_") and not alias.name.startswith("__"):
                        found.append(f"{path.relative_to(ROOT)}:{node.lineno} from {node.module} import {alias.name}")
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("app") and alias.asname:
                        imported_modules[alias.asname] = alias.name
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                    and node.value.id in imported_modules and node.attr.startswith("_") \
                    and not node.attr.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.value.id}.{node.attr}")
    assert not found, found
