#!/usr/bin/env python3
"""Layering check inside `account-core` (docs/architecture.md, "Layers").

The crates enforce the outer layers: `account-core` cannot name the edge or the adapters (it
does not depend on them), and the checks at the end keep the AWS SDK out of the core and the
edge and HTTP server types out of the core. Inside the core, every module of shared/core/src is
assigned to one of three layers below. A module may use modules of its own layer or of lower
layers, never of a higher one, and the module graph has no cycles (test-only imports included).
Unknown modules fail the check, so a new module must be placed explicitly. Exit 1 with one
line per violation; print the layer summary otherwise.
"""
import re
import sys
from pathlib import Path

# Lowest first.
LAYERS = {
    "foundation": [
        "error", "address", "clock", "dates", "ids", "hashes", "crypto", "keyring", "seal", "device",
        "templates",
        "credential", "jwt", "item", "keys", "password", "providers", "apple", "config",
    ],
    "ports": [
        "store", "outbox", "outbound", "geo", "custom_templates", "messages", "app",
    ],
    "domain": [
        "context", "audit", "budget", "account", "session", "token", "mfa", "oauth2", "passkey", "testkit",
        "domain_tests",
    ],
}
# Dependencies a crate must not have (its Cargo.toml, every table): what keeps the domain tests
# free of the AWS SDK, and the core free of the HTTP server and of the Lambda runtime.
FORBIDDEN = {
    "core": ["account-adapters", "account-edge", "aws-", "lambda_http", "lambda_runtime", "hyper"],
    "edge": ["account-adapters", "aws-sdk", "aws-config", "aws-smithy"],
}
# The crate root re-exports and may name anything.
ROOT = "lib"

SHARED = Path(__file__).resolve().parent.parent / "shared"
SRC = SHARED / "core" / "src"
USE = re.compile(r"crate::(\{[^}]*\}|[a-z_][a-z0-9_]*)")


def modules():
    """Module name -> source text (a directory module is all its files together)."""
    found = {}
    for path in sorted(SRC.rglob("*.rs")):
        rel = path.relative_to(SRC)
        name = rel.parts[0].removesuffix(".rs")
        found[name] = found.get(name, "") + path.read_text()
    return found


def uses(text):
    out = set()
    for m in USE.finditer(text):
        target = m.group(1)
        if target.startswith("{"):
            for part in target[1:-1].split(","):
                head = part.strip().split("::")[0].strip()
                if head and head != "self":
                    out.add(head)
        else:
            out.add(target)
    return out


def cycles(graph):
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def forbidden_dependencies():
    problems = []
    for crate, banned in FORBIDDEN.items():
        for line in (SHARED / crate / "Cargo.toml").read_text().splitlines():
            name = line.split("=")[0].strip().split(".")[0]
            if "=" in line and any(name.startswith(b) for b in banned) and not name.startswith("aws-lc"):
                problems.append(f"shared/{crate}/Cargo.toml: must not depend on {name}")
    return problems


def main():
    rank = {m: i for i, layer in enumerate(LAYERS.values()) for m in layer}
    names = list(LAYERS)
    mods = modules()
    problems = forbidden_dependencies()
    graph = {}
    for mod, text in mods.items():
        if mod == ROOT:
            continue
        if mod not in rank:
            problems.append(f"{mod}: not placed in a layer (scripts/check-layers.py)")
            continue
        deps = {d for d in uses(text) if d != mod and d in mods and d != ROOT}
        graph[mod] = deps
        for d in sorted(deps):
            if d not in rank:
                continue
            if rank[d] > rank[mod]:
                problems.append(
                    f"{mod} ({names[rank[mod]]}) uses {d} ({names[rank[d]]}): a lower layer "
                    "must not use a higher one"
                )
    for comp in cycles(graph):
        problems.append("import cycle: " + " -> ".join(comp))
    if problems:
        print("\n".join(problems))
        print(f"layers: {len(problems)} problem(s)")
        return 1
    for name, layer in LAYERS.items():
        present = [m for m in layer if m in mods]
        print(f"{name:10} {len(present):2}  {' '.join(present)}")
    print("layers: no upward use, no cycle")
    return 0


if __name__ == "__main__":
    sys.exit(main())
