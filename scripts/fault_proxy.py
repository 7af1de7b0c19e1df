"""A fault-injecting proxy between the API and the AWS emulator (the fault lane of scripts/test).

    python3 scripts/fault_proxy.py PORT UPSTREAM_URL [--dynamodb URL] --seed N [--throttle R]
        [--error R] [--error-after F] [--drop R] [--stall R] [--stall-secs S] [--writes-too]
        [--messaging R] [--log FILE]

DynamoDB requests go to --dynamodb (DynamoDB Local), everything else to UPSTREAM_URL (moto).

Each DynamoDB request (header X-Amz-Target: DynamoDB_20120810.*) draws from a random generator
seeded with --seed, in arrival order, and may get instead of its answer:
  throttle  400 ProvisionedThroughputExceededException (DynamoDB did nothing: the SDK retries)
  error     500 InternalServerError (outcome unknown to the client); with --error-after F, a
            fraction F of them only after the request was forwarded and answered: the write
            landed and the client saw a 500, as after a failure on DynamoDB's way back
  drop      the connection closed without an answer
  stall     --stall-secs of silence, then the real answer
Faults are drawn for reads (GetItem, BatchGetItem, Query) only, unless --writes-too: a low-rate
run injects what retries absorb, a high-rate run injects everything everywhere. Throttling is
injected on writes always (nothing was written, so it is always safe to retry). SES SendEmail
and SNS Publish fail with --messaging rate (a 503 from the service). Table administration
(CreateTable, DescribeTable, ...) is never touched. Every injected fault is logged.

GET /fault-proxy/counts: requests and faults so far. GET /fault-proxy/check: 200 when every
configured fault was injected at least half as often as its rate predicts (and at least once),
409 with the shortfalls otherwise: a lane whose injection silently stopped must fail.
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
    p.add_argument("--error-after", type=float, default=0.0)
    p.add_argument("--dynamodb", default=None)
    p.add_argument("--drop", type=float, default=0.0)
    p.add_argument("--stall", type=float, default=0.0)
    p.add_argument("--stall-secs", type=float, default=5.0)
    p.add_argument("--writes-too", action="store_true")
    p.add_argument("--messaging", type=float, default=0.0)
    p.add_argument("--log", default=None)
    args = p.parse_args()
    up = urllib.parse.urlsplit(args.upstream)
    ddb_up = urllib.parse.urlsplit(args.dynamodb or args.upstream)
    rng = random.Random(args.seed)
    lock = threading.Lock()
    counts: dict[str, int] = {}
    eligible: dict[str, int] = {}  # draws that could have given each fault
    log = open(args.log, "a") if args.log else sys.stderr
    n = [0]

    def draw(op: str, is_write: bool) -> str | None:
        with lock:
            n[0] += 1
            r = rng.random()
        edge = 0.0
        hit = None
        for fault, rate in (("throttle", args.throttle), ("error", args.error), ("drop", args.drop), ("stall", args.stall)):
            if is_write and fault != "throttle" and not args.writes_too:
                continue
            with lock:
                eligible[fault] = eligible.get(fault, 0) + 1
            edge += rate
            if hit is None and r < edge:
                hit = fault
        if hit == "error" and args.error_after > 0:
            with lock:
                late = rng.random() < args.error_after
            if late:
                hit = "error_after"
        return hit

    def shortfalls() -> list[str]:
        """Configured faults injected less than half as often as their rates predict."""
        out = []
        with lock:
            errors = counts.get("error", 0) + counts.get("error_after", 0)
            want = {
                "throttle": args.throttle * eligible.get("throttle", 0),
                "error": args.error * (1 - args.error_after) * eligible.get("error", 0),
                "error_after": args.error_after * errors,
                "drop": args.drop * eligible.get("drop", 0),
                "stall": args.stall * eligible.get("stall", 0),
                "messaging": args.messaging * eligible.get("messaging", 0),
            }
            rates = {"throttle": args.throttle, "error": args.error * (1 - args.error_after),
                     "error_after": args.error * args.error_after, "drop": args.drop,
                     "stall": args.stall, "messaging": args.messaging}
            for fault, expected in want.items():
                if rates[fault] <= 0:
                    continue
                floor = max(1, int(expected / 2))
                if counts.get(fault, 0) < floor:
                    out.append(f"{fault}: {counts.get(fault, 0)} injected, at least {floor} expected")
        return out

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
                        eligible["messaging"] = eligible.get("messaging", 0) + 1
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
            dest = ddb_up if target.startswith("DynamoDB_") else up
            conn = http.client.HTTPConnection(dest.hostname, dest.port, timeout=120)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "connection")}
            headers["Host"] = dest.netloc
            try:
                conn.request(method, self.path, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except OSError:
                self.close_connection = True
                return
            finally:
                conn.close()
            if fault == "error_after":
                # The request ran (a write landed); its answer is lost on the way back.
                try:
                    return self.dynamo_error(500, "InternalServerError")
                except OSError:
                    return
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
                    body = json.dumps({"requests": n[0], "faults": counts, "eligible": eligible}).encode()
                return self.answer(200, body, {"Content-Type": "application/json"})
            if self.path == "/fault-proxy/check":
                problems = shortfalls()
                body = json.dumps({"ok": not problems, "problems": problems}).encode()
                return self.answer(409 if problems else 200, body, {"Content-Type": "application/json"})
            self.forward("GET")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", args.port), Proxy)
    server.daemon_threads = True
    print(f"fault proxy on 127.0.0.1:{args.port} -> {args.upstream} (seed {args.seed})", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
