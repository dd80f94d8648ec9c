"""A codemod: move the imports written inside functions of the given modules to module top.

    .venv/bin/python tools/hoist_imports.py app/demo/*.py              # rewrite in place
    .venv/bin/python tools/hoist_imports.py --check app/services/x.py  # list, change nothing

Each import statement found directly in a function's body (any depth of nesting of functions;
not under an if/try/with, where it is a choice) is removed there and added, as
written, after the module's last top-level import; then `ruff check --fix --select I,F401`
sorts and merges them. Imports carrying a comment (usually the reason they must stay local,
e.g. "# cycle", "# optional dependency") are left alone. Whether the result imports without a
cycle is for the caller to check (import every module, run the tests, `make lint`).
"""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

HEADERS = (":", '"""', "'''")  # a line a body starts after: no blank line needed there


def _local_imports(tree: ast.Module) -> list[ast.stmt]:
    found: list[ast.stmt] = []

    def visit(node, inside: bool) -> None:
        for child in ast.iter_child_nodes(node):
            # only imports directly in a function body: one under if/try/with is a choice
            if inside and isinstance(child, (ast.Import, ast.ImportFrom)) \
                    and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(child)
            visit(child, inside or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)))

    visit(tree, False)
    return found


def hoist(path: Path, check: bool = False) -> int:
    """Rewrite `path`; returns how many import statements moved (or would move)."""
    source = path.read_text(encoding="utf-8")
    lines = source.split("\n")
    tree = ast.parse(source, str(path))
    movable = [n for n in _local_imports(tree) if "#" not in "\n".join(lines[n.lineno - 1:n.end_lineno])]
    if check or not movable:
        for n in movable:
            print(f"{path}:{n.lineno}: {lines[n.lineno - 1].strip()}")
        return len(movable)
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    insert_at = max(n.end_lineno for n in top) if top else 0
    texts = list(dict.fromkeys(
        " ".join(x.strip() for x in lines[n.lineno - 1:n.end_lineno]).replace("( ", "(").replace(", )", ")")
        for n in movable))
    drop: set[int] = set()
    for n in movable:
        drop.update(range(n.lineno - 1, n.end_lineno))
    for i in sorted(drop):  # the blank lines after a moved import go with it
        j = i + 1
        while j < len(lines) and not lines[j].strip():
            drop.add(j)
            j += 1
    out: list[str] = []
    for i, line in enumerate(lines):
        if i in drop:
            starts_run = i == 0 or (i - 1) not in drop
            resumes = next((k for k in range(i, len(lines)) if k not in drop), None)
            if starts_run and out and out[-1].strip() and not out[-1].rstrip().endswith(HEADERS) \
                    and resumes is not None and lines[resumes].strip():
                out.append("")  # code before and after the run: keep them apart as they were
            continue
        out.append(line)
        if i == insert_at - 1:
            out.extend(texts)
    if insert_at == 0:
        out = texts + out
    path.write_text("\n".join(out), encoding="utf-8")
    return len(movable)


def main(argv: list[str]) -> None:
    check = "--check" in argv
    paths = [Path(a) for a in argv if not a.startswith("--")]
    moved = sum(hoist(p, check) for p in paths)
    if not check and paths:
        subprocess.run([sys.executable, "-m", "ruff", "check", "--fix", "--select", "I,F401", "-q", *map(str, paths)],
                       check=False)
    print(f"{'would move' if check else 'moved'} {moved} imports")


if __name__ == "__main__":
    main(sys.argv[1:])
