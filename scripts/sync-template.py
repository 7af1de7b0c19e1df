"""Rewrite the `Events:` blocks of template.yaml from the route table.

Runs the route-table test, which prints the expected blocks when the template disagrees, and
splices them into each function. The catch-all route stays on AccountFunction.
usage: python3 scripts/sync-template.py
"""

import os
import re
import subprocess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CATCH_ALL = """        CatchAll:
          Type: HttpApi
          Properties:
            ApiId: !Ref Api
            Method: ANY
            Path: /{proxy+}
"""

out = subprocess.run(
    ["cargo", "test", "-q", "-p", "integration-tests", "--test", "template", "template_routes"],
    cwd=ROOT, capture_output=True, text=True, env={**os.environ, "RUST_BACKTRACE": "0"},
).stdout
if "expected events:" not in out:
    print("template.yaml already matches the route table")
    raise SystemExit(0)
blocks, cur = {}, None
for line in out.split("expected events:\n", 1)[1].splitlines(keepends=True):
    if line.startswith("note:") or line.startswith("failures:") or not line.strip():
        break
    if line.startswith("# "):
        cur = line[2:].strip()
        blocks[cur] = ""
    elif cur:
        blocks[cur] += line

path = os.path.join(ROOT, "template.yaml")
text = open(path).read()
for resource, events in blocks.items():
    if resource == "AccountFunction":
        events += CATCH_ALL
    pattern = re.compile(rf"(\n  {resource}:\n(?:    .*\n|\n(?=    ))*?)      Events:\n(?:        .*\n)*")
    if not pattern.search(text):
        raise SystemExit(f"{resource} has no Events block in template.yaml: add the function first")
    text = pattern.sub(lambda m: m.group(1) + events, text, count=1)
open(path, "w").write(text)
print("template.yaml updated:", ", ".join(blocks))
