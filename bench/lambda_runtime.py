"""Measure a Lambda bootstrap's cold start and warm latency with a mock Lambda Runtime API.

The binary is exec'd with AWS_LAMBDA_RUNTIME_API pointing here; we time exec -> first
GET /invocation/next (Init done) and exec -> first response, then (warm) the time from handing
out an event to receiving its response. Real Lambda adds sandbox set-up and a fractional CPU:
use these numbers to compare builds, not as AWS "Init Duration".

usage: lambda_runtime.py BINARY EVENT_JSON [--cold N] [--warm N]
"""

import http.server
import json
import os
import statistics
import subprocess
import sys
import threading
import time

class Runtime(http.server.BaseHTTPRequestHandler):
    events = []          # events still to hand out
    handed = {}          # request id -> time handed out
    first_next = None
    responses = []       # (request id, latency seconds, status)
    done = threading.Event()

    def log_message(self, *a):
        pass

    def do_GET(self):
        if not self.path.endswith("/invocation/next"):
            self.send_response(404); self.end_headers(); return
        cls = type(self)
        if cls.first_next is None:
            cls.first_next = time.perf_counter()
        if not cls.events:
            cls.done.set()
            time.sleep(3600)  # block, like Lambda freezing the sandbox
            return
        rid = f"req-{len(cls.handed)}"
        body = json.dumps(cls.events.pop(0)).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", rid)
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:000000000000:function:bench")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cls.handed[rid] = time.perf_counter()
        self.wfile.write(body)

    def do_POST(self):
        cls = type(self)
        length = int(self.headers.get("Content-Length", 0))
        payload = json.loads(self.rfile.read(length) or b"{}")
        rid = self.path.split("/")[-2]
        cls.responses.append((rid, time.perf_counter() - cls.handed.get(rid, time.perf_counter()), payload.get("statusCode")))
        self.send_response(202); self.end_headers()
        if not cls.events:
            cls.done.set()


def run(binary, event, n_events):
    Runtime.events = [event] * n_events
    Runtime.handed, Runtime.first_next, Runtime.responses = {}, None, []
    Runtime.done = threading.Event()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Runtime)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ)
    env.update({
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_GROUP_NAME": "bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench", "LOG_LEVEL": "warn",
    })
    start = time.perf_counter()
    proc = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while len(Runtime.responses) < n_events and proc.poll() is None and time.perf_counter() - start < 60:
        time.sleep(0.0005)
    first_response = start + Runtime.responses[0][1] + (Runtime.handed["req-0"] - start) if Runtime.responses else None
    proc.kill(); proc.wait(); server.shutdown()
    init = (Runtime.first_next - start) * 1000 if Runtime.first_next else float("nan")
    first = (first_response - start) * 1000 if first_response else float("nan")
    return init, first, [r[1] * 1000 for r in Runtime.responses], [r[2] for r in Runtime.responses]


def main():
    binary, event_file = sys.argv[1], sys.argv[2]
    cold = int(sys.argv[sys.argv.index("--cold") + 1]) if "--cold" in sys.argv else 20
    warm = int(sys.argv[sys.argv.index("--warm") + 1]) if "--warm" in sys.argv else 200
    event = json.load(open(event_file))
    run(binary, event, 1)  # discarded: page cache
    inits, firsts = [], []
    for _ in range(cold):
        init, first, _, statuses = run(binary, event, 1)
        inits.append(init); firsts.append(first)
    _, _, lat, statuses = run(binary, event, warm + 1)
    lat = sorted(lat[1:])
    size = os.path.getsize(binary) / 1e6
    print(f"{os.path.basename(binary)} ({size:.1f} MB): status {statuses[-1]}; "
          f"cold: init median {statistics.median(inits):.2f} ms, first response median {statistics.median(firsts):.2f} ms (n={cold}); "
          f"warm: p50 {lat[len(lat)//2]:.2f} ms, p99 {lat[int(len(lat)*0.99)-1]:.2f} ms (n={len(lat)})")


if __name__ == "__main__":
    main()
