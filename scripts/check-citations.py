#!/usr/bin/env python3
"""Every `contract §N` cited in the code must resolve inside the repository.

A section sign followed by a number ("contract §1.9", "(§1.7)") needs a heading `## §1.9 ...` in
docs/contract.md. A citation of a numbered document ("RFC 6238 §5.2") names its own source and
is not checked. Exit 1 listing unresolved citations.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "contract.md"
SOURCES = ["shared", "functions", "local", "admin", "tests", "scripts", "README.md", "infra", "docs"]
# Any "§1.9" in the project's files cites the contract, unless an RFC number names its source
# ("RFC 6238 §5.2").
CITE = re.compile(r"(?<!\d )§(\d+(?:\.\d+)*)")
HEADING = re.compile(r"^## §(\d+(?:\.\d+)*)\b", re.MULTILINE)


def files():
    for name in SOURCES:
        path = ROOT / name
        if path.is_file():
            yield path
        elif path.is_dir():
            for p in path.rglob("*"):
                if p.suffix in {".rs", ".py", ".md", ".mjs", ".sh"} and "node_modules" not in p.parts:
                    yield p


def main():
    have = set(HEADING.findall(DOC.read_text()))
    missing = []
    cited = 0
    for path in files():
        if path == DOC:
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            for sec in CITE.findall(line):
                cited += 1
                if sec not in have:
                    missing.append(f"{path.relative_to(ROOT)}:{n}: contract §{sec} is not in docs/contract.md")
    if missing:
        print("\n".join(missing))
        return 1
    print(f"citations: {cited} contract references, all resolve in docs/contract.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
