"""moto's server with each request handled under one lock.

moto evaluates a DynamoDB condition and then writes, without a lock; with werkzeug's threads two
concurrent conditional writes can both pass (seen: 2 of 20 parallel sign-ups with one email
succeeded). Real DynamoDB checks and writes atomically per item and per transaction, so the
emulator must too: this is the upstream `moto_server` main with the app wrapped in a lock.
Connections are still accepted on threads; only request processing is serialised.

It also serves `/moto-api/outbox.json`: the `ses` and `sns` parts of moto's `/moto-api/data.json`
only. data.json serialises every DynamoDB item too, which takes seconds once a test run has
written a few thousand; tests read sent mail and SMS from here instead.
"""

import json
import os
import sys
import threading

from werkzeug.serving import run_simple

from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    host = sys.argv[1] if len(sys.argv) > 1 else "127.0.0.1"
    port = int(sys.argv[2]) if len(sys.argv) > 2 else 5000
    os.environ.setdefault("MOTO_PORT", str(port))
    app = DomainDispatcherApplication(create_backend_app)
    lock = threading.Lock()

    def outbox(start_response):
        from moto.core.model_instances import model_data

        results = {}
        for service in ("ses", "sns"):
            results[service] = {}
            for name, model in sorted(model_data.get(service, {}).items()):
                rows = []
                for instance in model.instances_tracked:
                    row = {}
                    for attr in dir(instance):
                        if attr.startswith("_"):
                            continue
                        try:
                            value = getattr(instance, attr)
                            json.dumps(value)
                        except (TypeError, AttributeError, ValueError):
                            continue
                        row[attr] = value
                    rows.append(row)
                results[service][name] = rows
        body = json.dumps(results).encode()
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]

    def serialised(environ, start_response):
        with lock:
            if environ.get("PATH_INFO") == "/moto-api/outbox.json":
                return outbox(start_response)
            # Materialise the body inside the lock: the work happens while iterating.
            return list(app(environ, start_response))

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
