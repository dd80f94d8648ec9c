"""Count the imports written inside functions (not at module top) in app/, per module.

    .venv/bin/python tools/local_imports.py            # total, then the 15 modules with most
    .venv/bin/python tools/local_imports.py --all      # every module

Imports under `if TYPE_CHECKING:` are at module level and not counted. The last line is JSON.
"""
from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def local_imports(path: Path) -> int:
    """How many import statements sit inside a function or method of `path` (each once)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    count = 0

    def visit(node, inside: bool) -> None:
        nonlocal count
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.Import, ast.ImportFrom)) and inside:
                count += 1
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return count


def main() -> None:
    per_module = {str(p.relative_to(ROOT)): local_imports(p)
                  for p in sorted((ROOT / "app").rglob("*.py"))}
    per_module = {k: v for k, v in per_module.items() if v}
    shown = sorted(per_module.items(), key=lambda kv: -kv[1])
    if "--all" not in sys.argv:
        shown = shown[:15]
    for name, n in shown:
        print(f"{n:5d}  {name}")
    print(json.dumps({"imports_inside_functions": sum(per_module.values()), "modules": len(per_module)}))


if __name__ == "__main__":
    main()
