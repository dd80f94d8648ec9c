"""The architecture is checked, not only described: the import contracts in `.importlinter`
(doors above services above search and events above models; no cycles between the service
packages) hold, and breaking them is caught.

The second test proves the first can fail: it copies the Python tree into a temporary folder,
adds one import that goes the wrong way (or closes a cycle), and expects `lint-imports` to
refuse it and to name the offending import.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
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
