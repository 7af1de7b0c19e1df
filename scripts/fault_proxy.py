"""A fault-injecting proxy between the API and the AWS emulator (the fault lane of scripts/test).

    python3 scripts/fault_proxy.py PORT UPSTREAM_URL --seed N [--throttle R] [--error R]
        [--drop R] [--stall R] [--stall-secs S] [--writes-too] [--messaging R] [--log FILE]

Each DynamoDB request (header X-Amz-Target: DynamoDB_20120810.*) draws from a random generator
seeded with --seed, in arrival order, and may get instead of its answer:
  throttle  400 ProvisionedThroughputExceededException (DynamoDB did nothing: the SDK retries)
  error     500 InternalServerError (outcome unknown to the client)
  drop      the connection closed without an answer
  stall     --stall-secs of silence, then the real answer
Faults are drawn for reads (GetItem, BatchGetItem, Query) only, unless --writes-too: a low-rate
run injects what retries absorb, a high-rate run injects everything everywhere. Throttling is
injected on writes always (nothing was written, so it is always safe to retry). SES SendEmail
and SNS Publish fail with --messaging rate (a 503 from the service). Table administration
(CreateTable, DescribeTable, ...) is never touched. Every injected fault is logged.
"""

import argparse
import http.client
import http.server
import json
import random
import sys
import threading
import time
import urllib.parse

READS = {"GetItem", "BatchGetItem", "Query"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"}


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("port", type=int)
    p.add_argument("upstream")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--throttle", type=float, default=0.0)
    p.add_argument("--error", type=float, default=0.0)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--stall", type=float, default=0.0)
    p.add_argument("--stall-secs", type=float, default=5.0)
    p.add_argument("--writes-too", action="store_true")
    p.add_argument("--messaging", type=float, default=0.0)
    p.add_argument("--log", default=None)
    args = p.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    counts: dict[str, int] = {}
    log = open(args.log, "a") if args.log else sys.stderr
    n = [0]

    def draw(op: str, is_write: bool) -> str | None:
        with lock:
            n[0] += 1
            r = rng.random()
        edge = 0.0
        for fault, rate in (("throttle", args.throttle), ("error", args.error), ("drop", args.drop), ("stall", args.stall)):
            if is_write and fault != "throttle" and not args.writes_too:
                continue
            edge += rate
            if r < edge:
                return fault
        return None

    def note(fault: str, op: str) -> None:
        with lock:
            counts[fault] = counts.get(fault, 0) + 1
            log.write(f"fault #{n[0]} {fault} {op}\n")
            log.flush()

    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a) -> None:  # quiet
            pass

        def answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def dynamo_error(self, status: int, kind: str) -> None:
            body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{kind}", "message": "injected by fault_proxy"}).encode()
            self.answer(status, body, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-ErrorType": kind})

        def forward(self, method: str) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            target = self.headers.get("X-Amz-Target", "")
            fault = None
            op = ""
            if target.startswith("DynamoDB_20120810."):
                op = target.split(".", 1)[1]
                if op in READS or op in WRITES:
                    fault = draw(op, op in WRITES)
            elif method == "POST" and args.messaging > 0:
                form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
                op = (form.get("Action") or [""])[0]
                if op in ("SendEmail", "SendRawEmail", "Publish"):
                    with lock:
                        n[0] += 1
                        fail = rng.random() < args.messaging
                    if fail:
                        note("messaging", op)
                        xml = b"<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>injected by fault_proxy</Message></Error></ErrorResponse>"
                        return self.answer(503, xml, {"Content-Type": "text/xml"})
            if fault:
                note(fault, op)
            if fault == "throttle":
                return self.dynamo_error(400, "ProvisionedThroughputExceededException")
            if fault == "error":
                return self.dynamo_error(500, "InternalServerError")
            if fault == "drop":
                self.close_connection = True
                self.connection.close()
                return
            if fault == "stall":
                time.sleep(args.stall_secs)
            conn = http.client.HTTPConnection(up.hostname, up.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = up.netloc
            try:
                conn.request(method, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except OSError:
                self.close_connection = True
                return
            finally:
                conn.close()
            out = {k: v for k, v in r.getheaders() if k.lower() not in ("transfer-encoding", "connection", "content-length")}
            try:
                self.answer(r.status, data, out)
            except OSError:
                pass  # the client gave up (a timeout after a stall)

        def do_POST(self) -> None:
            self.forward("POST")

        def do_GET(self) -> None:
            if self.path == "/fault-proxy/counts":
                with lock:
                    body = json.dumps({"requests": n[0], "faults": counts}).encode()
                return self.answer(200, body, {"Content-Type": "application/json"})
            self.forward("GET")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    print(f"fault proxy on 127.0.0.1:{args.port} -> {args.upstream} (seed {args.seed})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
