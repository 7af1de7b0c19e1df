"""moto's server with each request handled under one lock.

moto evaluates a DynamoDB condition and then writes, without a lock; with werkzeug's threads two
concurrent conditional writes can both pass (seen: 2 of 20 parallel sign-ups with one email
succeeded). Real DynamoDB checks and writes atomically per item and per transaction, so the
emulator must too: this is the upstream `moto_server` main with the app wrapped in a lock.
Connections are still accepted on threads; only request processing is serialised.
"""

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

    def serialised(environ, start_response):
        with lock:
            # Materialise the body inside the lock: the work happens while iterating.
            return list(app(environ, start_response))

    run_simple(host, port, serialised, threaded=True, request_handler=MotoRequestHandler)


if __name__ == "__main__":
    main()
