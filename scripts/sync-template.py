"""Rewrite the `Events:` blocks of template.yaml from the route table.

`admin routes sam-events` prints each function's block (account_edge::routes::sam_events); this splices
them into the template. tests/tests/template.rs fails while the two disagree.
usage: python3 scripts/sync-template.py
"""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

out = subprocess.run(
    ["cargo", "run", "-q", "-p", "admin", "--", "routes", "sam-events"],
    cwd=ROOT, capture_output=True, text=True, check=True,
).stdout
blocks, cur = {}, None
for line in out.splitlines(keepends=True):
    if line.startswith("# "):
        cur = line[2:].strip()
        blocks[cur] = ""
    elif cur:
        blocks[cur] += line

path = os.path.join(ROOT, "template.yaml")
text = open(path).read()
for resource, events in blocks.items():
    pattern = re.compile(rf"(\n  {resource}:\n(?:    .*\n|\n(?=    ))*?)      Events:\n(?:        .*\n)*")
    if not pattern.search(text):
        raise SystemExit(f"{resource} has no Events block in template.yaml: add the function first")
    text = pattern.sub(lambda m: m.group(1) + events, text, count=1)
open(path, "w").write(text)
print("template.yaml updated:", ", ".join(blocks))
