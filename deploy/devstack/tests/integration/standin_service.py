"""A stand-in for a service, to test the supervisor and the CLI without the real services.

`python standin_service.py PORT` serves GET /readyz and /healthz (200). STANDIN_MODE changes its behaviour:
`crash` exits 3 at start; `exit-after-ready` exits 7 once /readyz was answered; `crash-once` does that only
the first time (remembered by the file STANDIN_MARKER); `ignore-term` ignores SIGTERM.
STANDIN_DUMP_DIR: write the environment it was started with to <dir>/<port>.json.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


def serve(port: int) -> None:
    """Run until stopped, according to STANDIN_MODE."""
    mode = os.environ.get("STANDIN_MODE", "")
    if dump_dir := os.environ.get("STANDIN_DUMP_DIR"):
        (Path(dump_dir) / f"{port}.json").write_text(json.dumps(dict(os.environ)))
    if mode == "crash":
        print("stand-in: failing at start as asked", flush=True)
        sys.exit(3)
    if mode == "crash-once":
        marker = Path(os.environ["STANDIN_MARKER"])
        mode = "" if marker.exists() else "exit-after-ready"
        marker.touch()
    if mode == "ignore-term":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path in ("/readyz", "/healthz") else 404)
            self.end_headers()
            if mode == "exit-after-ready" and self.path == "/readyz":
                print("stand-in: exiting after the first readiness answer", flush=True)
                threading.Thread(target=lambda: os._exit(7)).start()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    print(f"stand-in: listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    serve(int(sys.argv[1]))
