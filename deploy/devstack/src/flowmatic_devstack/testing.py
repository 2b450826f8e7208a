"""Helpers for end-to-end tests against a running stack: API clients, waiting for executions, an echo server.

In the package (not a conftest) because pytest's importlib mode gives test modules no shared helper module.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from flowmatic_devstack.harness import RunningStack

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def api_client(stack: RunningStack, token: str | None = None) -> httpx.AsyncClient:
    """A client of the gateway with the admin key (or the given token)."""
    headers = {"Authorization": f"Bearer {token or stack.admin_key}"}
    return httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=40)


async def wait_finished(api: httpx.AsyncClient, execution_id: str, within: float = 60.0) -> dict[str, Any]:
    """Poll an execution until it is terminal."""
    deadline = time.monotonic() + within
    while True:
        resp = await api.get(f"/api/v1/executions/{execution_id}")
        assert resp.status_code == 200, resp.text
        execution: dict[str, Any] = dict(resp.json())
        if execution["status"] in TERMINAL:
            return execution
        assert time.monotonic() < deadline, f"{execution_id} still {execution['status']}"
        await asyncio.sleep(0.1)


def step_of(execution: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [s for s in execution["steps"] if s["nodeId"] == node_id]
    assert len(found) == 1, (node_id, execution["steps"])
    return found[0]


class EchoServer:
    """A local HTTP server that records requests and echoes JSON; paths starting /fail answer 500."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        echo = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = json.loads(raw) if raw else None
                echo.requests.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "body": body,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                    }
                )
                out = json.dumps({"received": body, "path": self.path}).encode()
                self.send_response(500 if self.path.startswith("/fail") else 200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = _handle  # noqa: N815 (the names http.server dispatches to)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def calls(self, path: str) -> int:
        return sum(r["path"] == path for r in self.requests)
