"""Drive the API with a mix of flows while scripts/fault_proxy.py injects faults, and judge every
answer (the fault lane of scripts/test).

    python3 scripts/fault_drive.py API_URL PROJECT --users N --mode MODE --table TABLE
        --dynamodb URL [--min-ok FRACTION] [--max-ms MS]

Each user signs up, logs in, reads the account, changes prefs and name, asks for an email code
and for a phone code to a new number, creates and deletes sessions, and changes email. MODE says
what may fail:
  clean      nothing: every request must succeed (faults are absorbed by retries)
  messaging  only sends: a failed email or SMS is 503 with Appwrite's envelope, and leaves no
             token (nor the user a first phone code created)
  any        anything, but every failure is Appwrite's envelope (code = HTTP status, 5xx only as
             500 or 503), and no security-log entry claims an action that did not succeed
Whatever the mode, at least --min-ok of the requests must succeed (the caller derives it from
the injected rates), so a server that answers 503 to everything fails the run; in messaging mode
some sends must have failed (else nothing was tested). The table is read directly (boto3 on
DynamoDB Local, not through the proxy). Prints a summary; exits 1 on any violation.
"""

import argparse
import http.client
import json
import sys
import threading
import time
import urllib.parse
import uuid

import boto3

PASSWORD = "fault-lane-password-1"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("api")
    p.add_argument("project")
    p.add_argument("--users", type=int, default=12)
    p.add_argument("--threads", type=int, default=3)
    p.add_argument("--mode", choices=["clean", "messaging", "any"], required=True)
    p.add_argument("--table", required=True)
    p.add_argument("--dynamodb", required=True)
    p.add_argument("--min-ok", type=float, default=1.0, help="fraction of requests that must succeed")
    p.add_argument("--max-ms", type=float, default=0, help="fail any request slower than this")
    args = p.parse_args()
    api = urllib.parse.urlsplit(args.api)
    ddb = boto3.client("dynamodb", endpoint_url=args.dynamodb)
    lock = threading.Lock()
    stats = {"requests": 0, "ok": 0, "clean_errors": 0, "failed_sends": 0, "slowest_ms": 0.0}
    violations: list[str] = []
    successes: dict[str, dict[str, int]] = {}  # uid -> event -> count
    run = uuid.uuid4().hex[:8]

    def call(method: str, path: str, body=None, session=None):
        conn = http.client.HTTPConnection(api.hostname, api.port, timeout=120)
        headers = {"X-Appwrite-Project": args.project, "Content-Type": "application/json"}
        if session:
            headers["X-Appwrite-Session"] = session
        started = time.monotonic()
        conn.request(method, api.path + path, body=json.dumps(body) if body is not None else None, headers=headers)
        r = conn.getresponse()
        raw = r.read()
        ms = (time.monotonic() - started) * 1000
        with lock:
            stats["slowest_ms"] = max(stats["slowest_ms"], ms)
        if args.max_ms and ms > args.max_ms:
            violations.append(f"{method} {path}: {ms:.0f} ms, over the {args.max_ms:.0f} ms budget")
        fallback = r.getheader("X-Fallback-Cookies")
        conn.close()
        return r.status, raw, fallback

    def judge(what: str, status: int, raw: bytes, ok: tuple[int, ...], may_fail: bool) -> dict | None:
        with lock:
            stats["requests"] += 1
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = None
        if status in ok:
            with lock:
                stats["ok"] += 1
            return data if isinstance(data, dict) else {}
        envelope = (
            isinstance(data, dict)
            and isinstance(data.get("message"), str)
            and data.get("code") == status
            and isinstance(data.get("type"), str)
            and data.get("type")
            and isinstance(data.get("version"), str)
        )
        if not envelope:
            violations.append(f"{what}: {status} without Appwrite's envelope: {raw[:200]!r}")
        elif status >= 500 and status not in (500, 503):
            violations.append(f"{what}: {status} {data.get('type')}")
        elif not may_fail:
            violations.append(f"{what}: {status} {data.get('type')}: {data.get('message')}")
        else:
            with lock:
                stats["clean_errors"] += 1
        return None

    def succeeded(uid: str, event: str) -> None:
        with lock:
            successes.setdefault(uid, {}).setdefault(event, 0)
            successes[uid][event] += 1

    def user(i: int) -> None:
        any_fail = args.mode == "any"
        email = f"fault-{run}-{i}@example.com"
        st, raw, _ = call("POST", "/account", {"userId": "unique()", "email": email, "password": PASSWORD, "name": f"U{i}"})
        acct = judge("sign-up", st, raw, (201,), any_fail)
        if acct is None:
            return
        uid = acct["$id"]
        succeeded(uid, "user.create")
        st, raw, fallback = call("POST", "/account/sessions/email", {"email": email, "password": PASSWORD})
        if judge("login", st, raw, (201,), any_fail) is None:
            return
        succeeded(uid, "session.create")
        secret = json.loads(fallback)[f"a_session_{args.project}"]
        for what, method, path, body, ok, event in (
            ("get account", "GET", "/account", None, (200,), None),
            ("prefs", "PATCH", "/account/prefs", {"prefs": {"i": i}}, (200,), "user.update"),
            ("name", "PATCH", "/account/name", {"name": f"User {i}"}, (200,), "user.update"),
            ("sessions", "GET", "/account/sessions", None, (200,), None),
        ):
            st, raw, _ = call(method, path, body, secret)
            if judge(what, st, raw, ok, any_fail) is not None and event:
                succeeded(uid, event)
        def send(what: str, path: str, body: dict, leftover: tuple[str, str], gone: str) -> None:
            """A request that sends a message: in messaging mode the send may fail, and must
            then answer 503 and leave no `leftover` item."""
            st, raw, _ = call("POST", path, body)
            if judge(what, st, raw, (201,), args.mode != "clean") is not None or args.mode != "messaging":
                return
            with lock:
                stats["failed_sends"] += 1
            if st != 503:
                violations.append(f"{what}: a failed send answered {st}, not 503")
            key = {"PK": {"S": leftover[0]}, "SK": {"S": leftover[1]}}
            if "Item" in ddb.get_item(TableName=args.table, Key=key, ConsistentRead=True):
                violations.append(f"{what}: the send failed and {gone} is still there")

        # An email code: a failed send leaves no token.
        send("email token", "/account/tokens/email", {"userId": uid, "email": email},
             (f"USER#{uid}", "TOKEN#email-otp"), f"the token of {uid}")
        # A phone code for a number nobody has: it creates a user with its token, and a failed
        # SMS must withdraw both (no claim left for the number; the table check sees the rest).
        phone = f"+1202555{i:04d}"
        send("phone token", "/account/tokens/phone", {"userId": "unique()", "phone": phone},
             (f"PHONE#{phone}", "PHONE"), f"the new user's claim of {phone}")
        # A second session, then its deletion.
        st, raw, fallback2 = call("POST", "/account/sessions/email", {"email": email, "password": PASSWORD})
        if judge("second login", st, raw, (201,), any_fail) is not None:
            succeeded(uid, "session.create")
            second = json.loads(fallback2)[f"a_session_{args.project}"]
            st, raw, _ = call("DELETE", "/account/sessions/current", None, second)
            if judge("logout", st, raw, (204,), any_fail) is not None:
                succeeded(uid, "session.delete")
        # An email change (a transaction: profile, new claim, old claim released, stale tokens).
        st, raw, _ = call("PATCH", "/account/email", {"email": f"moved-{run}-{i}@example.com", "password": PASSWORD}, secret)
        if judge("email change", st, raw, (200,), any_fail) is not None:
            succeeded(uid, "user.update")
        st, raw, _ = call("POST", "/account/sessions/anonymous")
        if judge("anonymous", st, raw, (201,), any_fail) is not None:
            uid2 = json.loads(raw)["userId"]
            succeeded(uid2, "user.create")
            succeeded(uid2, "session.create")

    def worker(k: int) -> None:
        for i in range(k, args.users, args.threads):
            try:
                user(i)
            except Exception as e:  # a driver bug or a dropped client connection
                violations.append(f"user {i}: {type(e).__name__}: {e}")

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(args.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # No security-log entry for an action that did not succeed: per user and event, entries
    # are at most the successes the client saw.
    for uid, events in successes.items():
        logs: dict[str, int] = {}
        start = None
        while True:
            q = {"TableName": args.table, "KeyConditionExpression": "PK = :pk",
                 "ExpressionAttributeValues": {":pk": {"S": f"LOG#{uid}"}}, "ConsistentRead": True}
            if start:
                q["ExclusiveStartKey"] = start
            out = ddb.query(**q)
            for it in out["Items"]:
                e = it["event"]["S"]
                logs[e] = logs.get(e, 0) + 1
            start = out.get("LastEvaluatedKey")
            if not start:
                break
        for e, n in logs.items():
            if n > events.get(e, 0):
                violations.append(f"LOG#{uid}: {n} {e} entries, {events.get(e, 0)} such actions succeeded")

    # Every user makes 13 requests when nothing fails; a failed sign-up or login ends its flow.
    if stats["requests"] < args.users:
        violations.append(f"only {stats['requests']} requests for {args.users} users")
    floor = args.min_ok * stats["requests"]
    if stats["ok"] < floor:
        violations.append(f"{stats['ok']} of {stats['requests']} requests succeeded, under the floor of "
                          f"{args.min_ok:.0%} ({floor:.0f})")
    if args.mode == "messaging" and stats["failed_sends"] == 0:
        violations.append("no send failed: the messaging faults were not exercised")
    print(f"fault drive ({args.mode}): {stats['requests']} requests, {stats['ok']} succeeded, "
          f"{stats['clean_errors']} clean errors, {stats['failed_sends']} failed sends, "
          f"slowest {stats['slowest_ms']:.0f} ms, {len(violations)} violations")
    for v in violations[:30]:
        print("  " + v)
    sys.exit(1 if violations else 0)


if __name__ == "__main__":
    main()
