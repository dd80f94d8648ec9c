"""The codemod that grouped the flat `app/services/*.py` into domain packages (issue 14).

Kept as the record of the move, and runnable again (it is idempotent): it `git mv`s each
module listed in DOMAINS into its package, writes the package's `__init__.py` (a docstring
that names its modules, the package's public face), and rewrites every reference in Python
files, `.importlinter` and the Markdown docs:

- dotted paths, in imports and in strings (`monkeypatch.setattr("app.services.posts.x", …)`):
  `app.services.posts` → `app.services.content.posts`;
- `from app.services import posts, ideas as idea_rules, accounts` → one line per package:
  `from app.services.content import ideas as idea_rules, posts` and
  `from app.services.people import accounts`.

Then `ruff check --fix --select I` sorts the imports. Usage: `python tools/domain_packages.py`
(from the repository root); `--dry-run` prints what would move.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ROOT / "app" / "services"

# package -> (docstring, modules). Modules not listed stay where they are (access and insight
# are packages already; chat is one module and a domain of its own).
DOMAINS: dict[str, tuple[str, list[str]]] = {
    "platform": (
        "What every domain stands on: Markdown rendering, background jobs, mail, file storage, site "
        "settings, the audit log and the admin area's reads (the input rules went down to app.inputs).",
        ["markup", "jobs", "mail", "storage", "settings", "audit", "admin"],
    ),
    "people": (
        "People and their accounts: sign-up and sign-in, profiles and the directory, the second factor, privacy.",
        ["accounts", "people", "totp", "privacy"],
    ),
    "community": (
        "Communities and what shapes them: membership, departments, follows, invitations and the social policy.",
        ["communities", "departments", "follows", "invitations", "policy"],
    ),
    "experts": (
        "Experts linked to topics: assignment and routing, and the read-only expert reports.",
        ["experts", "expert_reports"],
    ),
    "content": (
        "What people write: posts, comments, ideas and votes, asks, attachments, mentions, read markers, "
        "pre-moderation of what is new, and who is told about it (fanout).",
        ["posts", "comments", "ideas", "asks", "attachments", "mentions", "reads", "premoderation", "fanout"],
    ),
}

# Domains of one module stay modules: app/services/{chat,moderation,notifications,search}.py.
# access and insight are packages of their own already.
RENAMED: dict[str, str] = {}

TARGETS = ["app", "tests", "bench", "tools", "migrations", "wsgi.py", "config.py"]
DOCS = ["README.md", ".importlinter"]


def module_map() -> dict[str, tuple[str, str]]:
    """Old module name -> (package, new module name)."""
    out = {}
    for package, (_doc, modules) in DOMAINS.items():
        for module in modules:
            out[module] = (package, RENAMED.get(module, module))
    return out


def move_files(dry_run: bool) -> None:
    for old, (package, new) in module_map().items():
        src = SERVICES / f"{old}.py"
        dst = SERVICES / package / f"{new}.py"
        if not src.exists():
            continue
        print(f"move {src.relative_to(ROOT)} -> {dst.relative_to(ROOT)}")
        if dry_run:
            continue
        dst.parent.mkdir(exist_ok=True)
        subprocess.run(["git", "mv", str(src), str(dst)], check=True, cwd=ROOT)
    for package, (doc, modules) in DOMAINS.items():
        init = SERVICES / package / "__init__.py"
        names = ", ".join(f"`{RENAMED.get(m, m)}`" for m in modules)
        text = f'"""{doc}\n\nModules: {names}. Import them by name (`from app.services.{package} import …`)."""\n'
        if not dry_run and init.parent.exists() and not init.exists():
            init.write_text(text)
            subprocess.run(["git", "add", str(init)], check=True, cwd=ROOT)


FROM_IMPORT = re.compile(
    r"^(?P<indent>[ \t]*)from app\.services import (?:\((?P<paren>[^)]*)\)|(?P<plain>[^\n#]*))(?P<comment>[ \t]*#[^\n]*)?$",
    re.M,
)


def rewrite_from_imports(text: str, mapping: dict[str, tuple[str, str]]) -> str:
    def repl(m: re.Match) -> str:
        body = m.group("paren") if m.group("paren") is not None else m.group("plain")
        items = [i.strip() for i in re.sub(r"#[^\n]*", "", body).replace("\n", " ").split(",") if i.strip()]
        groups: dict[str, list[str]] = {}
        for item in items:
            name, _, alias = item.partition(" as ")
            name, alias = name.strip(), alias.strip()
            if name in mapping:
                package, new = mapping[name]
                bound = alias or name
                entry = new if bound == new else f"{new} as {bound}"
                groups.setdefault(f"app.services.{package}", []).append(entry)
            else:
                groups.setdefault("app.services", []).append(item)
        indent = m.group("indent")
        lines = [f"{indent}from {mod} import {', '.join(sorted(names))}" for mod, names in groups.items()]
        if m.group("comment"):
            lines[0] += m.group("comment")
        return "\n".join(lines)

    return FROM_IMPORT.sub(repl, text)


def rewrite_dotted(text: str, mapping: dict[str, tuple[str, str]]) -> str:
    """`app.services.<old module>` -> `app.services.<package>.<module>`, in code, strings and paths.

    A package may share its name with one of its modules (people/people.py): a path already
    rewritten (`app.services.people.accounts`, `from app.services.people import accounts`) is
    left alone, so that the codemod can run twice."""
    for old in sorted(mapping, key=len, reverse=True):
        package, new = mapping[old]
        if old in DOMAINS:
            modules = "|".join(RENAMED.get(m, m) for m in DOMAINS[old][1])
            done = rf"(?![./](?:{modules})\b)(?! import \(?\s*(?:{modules})\b)"
        else:
            done = ""
        pattern = re.compile(rf"\bapp([./])services\1{old}\b(?!/){done}")
        text = pattern.sub(lambda m, p=package, n=new: f"app{m.group(1)}services{m.group(1)}{p}{m.group(1)}{n}", text)
    return text


def rewrite_tree(dry_run: bool) -> list[Path]:
    mapping = module_map()
    changed = []
    files: list[Path] = []
    for target in TARGETS:
        path = ROOT / target
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    files += [ROOT / d for d in DOCS if (ROOT / d).exists()]
    for path in files:
        if path.resolve() == Path(__file__).resolve():
            continue
        text = path.read_text()
        new = text
        new = rewrite_dotted(new, mapping)
        if path.suffix == ".py":
            new = rewrite_from_imports(new, mapping)
        if new != text:
            changed.append(path)
            if not dry_run:
                path.write_text(new)
    return changed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    move_files(args.dry_run)
    changed = rewrite_tree(args.dry_run)
    print(f"rewrote {len(changed)} files")
    if not args.dry_run:
        ruff = ROOT / ".venv" / "bin" / "ruff"
        subprocess.run([str(ruff), "check", "--fix", "--select", "I,F401", "--quiet", *TARGETS], cwd=ROOT)
    return 0


if __name__ == "__main__":
    sys.exit(main())
