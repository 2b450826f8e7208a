"""`http_request` over real sockets and the system resolver: the guard refuses a name that resolves to
loopback, and when private networks are allowed the call reaches the server it resolved to."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from flowmatic_contracts.connectors import HttpRequestParameters, parse_parameters
from flowmatic_executor.adapters.dns import SystemResolver
from flowmatic_executor.adapters.http_request import HttpRequestConnector, HttpRequestPolicy
from flowmatic_executor.domain.outcomes import Failed, Succeeded

pytestmark = pytest.mark.integration


@pytest.fixture
def local_server() -> Iterator[tuple[int, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            out = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def get(url: str) -> HttpRequestParameters:
    parsed = parse_parameters("http_request", {"method": "GET", "url": url})
    assert isinstance(parsed, HttpRequestParameters)
    return parsed


async def test_localhost_is_refused_unless_private_networks_are_allowed(
    local_server: tuple[int, list[dict[str, str]]],
) -> None:
    port, seen = local_server
    async with httpx.AsyncClient(follow_redirects=False, trust_env=False) as client:
        guarded = HttpRequestConnector(client, SystemResolver(), HttpRequestPolicy())
        refused = await guarded.run(get(f"http://localhost:{port}/x"), idempotency_key="e:n:1", timeout_seconds=5)
        assert isinstance(refused, Failed) and not refused.retryable and "loopback" in refused.message
        assert seen == []

        open_ = HttpRequestConnector(client, SystemResolver(), HttpRequestPolicy(allow_private_networks=True))
        outcome = await open_.run(get(f"http://localhost:{port}/x"), idempotency_key="e:n:1", timeout_seconds=5)
        assert isinstance(outcome, Succeeded) and outcome.output["body"] == {"path": "/x"}
        assert seen[0]["host"] == f"localhost:{port}" and seen[0]["idempotency-key"] == "e:n:1"
