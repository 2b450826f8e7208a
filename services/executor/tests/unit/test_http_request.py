"""The `http_request` connector over `httpx.MockTransport`, with a fake resolver for the SSRF guard."""

from __future__ import annotations

import asyncio
import base64
import ipaddress
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowmatic_contracts.connectors import HttpRequestParameters, parse_parameters
from flowmatic_executor.adapters.dns import ResolutionError
from flowmatic_executor.adapters.http_request import HttpRequestConnector, HttpRequestPolicy
from flowmatic_executor.domain.addresses import IPAddress
from flowmatic_executor.domain.outcomes import Failed, Succeeded

PUBLIC = "93.184.215.14"


class FakeResolver:
    """Answers from a table; a name not in it does not resolve."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[tuple[str, int]] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.asked.append((host, port))
        if host not in self.table:
            raise ResolutionError(f"cannot resolve {host}: Name or service not known")
        return [ipaddress.ip_address(a) for a in self.table[host]]


Handler = Callable[[httpx.Request], httpx.Response]


class Server:
    """A MockTransport that records every request it sees."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        return self.handler(request)


def params(**values: Any) -> HttpRequestParameters:
    parsed = parse_parameters("http_request", {"method": "GET", "url": "https://api.example.test/x", **values})
    assert isinstance(parsed, HttpRequestParameters)
    return parsed


def connector(
    handler: Handler,
    *,
    table: dict[str, list[str]] | None = None,
    allow_private: bool = False,
    max_response_bytes: int = 1024,
) -> tuple[HttpRequestConnector, Server, FakeResolver]:
    server = Server(handler)
    resolver = FakeResolver({"api.example.test": [PUBLIC], **(table or {})})
    client = httpx.AsyncClient(transport=httpx.MockTransport(server), follow_redirects=False)
    policy = HttpRequestPolicy(allow_private_networks=allow_private, max_response_bytes=max_response_bytes)
    return HttpRequestConnector(client, resolver, policy), server, resolver


async def call(c: HttpRequestConnector, parameters: HttpRequestParameters, seconds: float = 5) -> Any:
    return await c.run(parameters, idempotency_key="ex_1:call:2", timeout_seconds=seconds)


def ok(body: Any = None, **kwargs: Any) -> Handler:
    return lambda request: httpx.Response(200, json=body if body is not None else {"ok": True}, **kwargs)


async def test_a_json_call_is_pinned_to_the_checked_address_and_carries_the_idempotency_key() -> None:
    c, server, resolver = connector(ok({"received": True}, headers={"X-Reply": "yes"}))
    outcome = await call(
        c,
        params(
            method="POST",
            url="https://api.example.test:8443/orders/cust_1?a=1",
            headers={"X-Event": "order.created", "Idempotency-Key": "mine"},
            query={"b": [1, 2], "c": True, "skip": None, "d": "ü"},
            body={"customer": "cust_1", "amount": 99.99},
        ),
    )
    assert isinstance(outcome, Succeeded)
    assert outcome.output["status"] == 200
    assert outcome.output["body"] == {"received": True}
    assert outcome.output["headers"]["x-reply"] == "yes"
    (sent,) = server.requests
    assert resolver.asked == [("api.example.test", 8443)]
    assert sent.url.host == PUBLIC and sent.url.port == 8443  # connects to the address that was checked
    assert sent.headers["host"] == "api.example.test:8443"
    assert sent.extensions["sni_hostname"] == "api.example.test"
    assert sent.headers["idempotency-key"] == "ex_1:call:2"
    assert sent.headers["x-event"] == "order.created"
    assert sent.headers["content-type"] == "application/json"
    assert json.loads(sent.content) == {"customer": "cust_1", "amount": 99.99}
    assert sent.url.params.multi_items() == [("a", "1"), ("b", "1"), ("b", "2"), ("c", "true"), ("d", "ü")]
    assert sent.url.path == "/orders/cust_1"


async def test_a_string_body_under_a_text_content_type_is_sent_as_is() -> None:
    c, server, _ = connector(ok())
    await call(c, params(method="PUT", headers={"Content-Type": "text/plain"}, body="hello ✓"))
    assert server.requests[0].content == "hello ✓".encode()
    await call(c, params(method="PUT", body="hello"))
    assert server.requests[1].content == b'"hello"'
    await call(c, params())
    assert server.requests[2].content == b"" and "content-type" not in server.requests[2].headers


@pytest.mark.parametrize(
    ("content_type", "content", "expected"),
    [
        ("application/json; charset=utf-8", b'{"a": [1, "\\u00fc"]}', {"a": [1, "ü"]}),
        ("application/problem+json", b'{"title": "x"}', {"title": "x"}),
        ("application/json", b"not json", "not json"),
        ("text/plain; charset=latin-1", "café".encode("latin-1"), "café"),
        ("text/html", b"<p>hi</p>", "<p>hi</p>"),
        ("application/octet-stream", b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        (None, b"raw", base64.b64encode(b"raw").decode()),
        ("application/json", b"", None),
    ],
)
async def test_response_bodies_follow_the_bodies_rule(content_type: str | None, content: bytes, expected: Any) -> None:
    headers = {"content-type": content_type} if content_type else {}
    c, _, _ = connector(lambda request: httpx.Response(200, content=content, headers=headers))
    outcome = await call(c, params())
    assert isinstance(outcome, Succeeded)
    assert outcome.output["body"] == expected


async def test_non_2xx_fails_and_is_retryable_unless_fail_on_error_is_false() -> None:
    c, _, _ = connector(lambda request: httpx.Response(503, json={"error": "down"}))
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and outcome.retryable
    assert "503" in outcome.message
    outcome = await call(c, params(failOnError=False))
    assert outcome == Succeeded({"status": 503, "headers": outcome.output["headers"], "body": {"error": "down"}})


@pytest.mark.parametrize(
    ("error", "fragment"),
    [
        (httpx.ConnectError("connection refused"), "ConnectError"),
        (httpx.ReadTimeout("slow"), "timed out"),
        (httpx.RemoteProtocolError("peer closed"), "RemoteProtocolError"),
    ],
)
async def test_connection_errors_and_timeouts_are_retryable(error: Exception, fragment: str) -> None:
    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    c, _, _ = connector(fail)
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and outcome.retryable
    assert fragment in outcome.message


async def test_the_step_timeout_bounds_the_whole_call() -> None:
    class SlowResolver(FakeResolver):
        async def resolve(self, host: str, port: int) -> list[IPAddress]:
            await asyncio.sleep(10)
            return []

    c = HttpRequestConnector(
        httpx.AsyncClient(transport=httpx.MockTransport(ok())), SlowResolver({}), HttpRequestPolicy()
    )
    outcome = await call(c, params(), seconds=0.05)
    assert isinstance(outcome, Failed) and outcome.retryable
    assert "timed out after 0.05 s" in outcome.message


async def test_an_unresolvable_host_is_a_retryable_failure() -> None:
    c, server, _ = connector(ok())
    outcome = await call(c, params(url="https://nowhere.test/"))
    assert isinstance(outcome, Failed) and outcome.retryable and "cannot resolve nowhere.test" in outcome.message
    assert server.requests == []


@pytest.mark.parametrize(
    ("url", "addresses", "reason"),
    [
        ("http://127.0.0.1/", [], "loopback"),
        ("http://[::1]:8080/", [], "loopback"),
        ("http://10.1.2.3/", [], "private"),
        ("http://192.168.0.10/", [], "private"),
        ("http://169.254.169.254/latest/meta-data/", [], "metadata"),
        ("http://[fd00:ec2::254]/", [], "metadata"),
        ("http://169.254.1.1/", [], "link-local"),
        ("http://0.0.0.0/", [], "unspecified"),
        ("http://224.0.0.1/", [], "multicast"),
        ("http://240.0.0.1/", [], "reserved"),
        ("http://[::ffff:127.0.0.1]/", [], "loopback"),
        ("http://100.64.0.1/", [], "not publicly routable"),
        ("http://internal.example.test/", ["10.0.0.5"], "private"),
        ("http://localhost.example.test/", ["127.0.0.1"], "loopback"),
        ("http://mixed.example.test/", [PUBLIC, "192.168.1.1"], "private"),
        ("http://v6.example.test/", ["fe80::1"], "link-local"),
    ],
)
async def test_private_addresses_are_refused_after_resolution(url: str, addresses: list[str], reason: str) -> None:
    host = httpx.URL(url).host
    c, server, _ = connector(ok(), table={host: addresses} if addresses else {})
    outcome = await call(c, params(url=url))
    assert isinstance(outcome, Failed), outcome
    assert outcome.retryable is False
    assert reason in outcome.message and "refusing" in outcome.message
    assert server.requests == []


async def test_private_addresses_are_allowed_when_configured() -> None:
    c, server, _ = connector(ok(), table={"internal.example.test": ["10.0.0.5"]}, allow_private=True)
    assert isinstance(await call(c, params(url="http://internal.example.test:81/")), Succeeded)
    assert isinstance(await call(c, params(url="http://127.0.0.1:9/")), Succeeded)
    assert [r.url.host for r in server.requests] == ["10.0.0.5", "127.0.0.1"]
    assert server.requests[0].headers["host"] == "internal.example.test:81"


def redirecting(chain: dict[str, tuple[int, str]]) -> Handler:
    """Redirects requests for the given Host+path, answers 200 otherwise."""

    def handle(request: httpx.Request) -> httpx.Response:
        where = f"{request.headers['host']}{request.url.path}"
        if where in chain:
            status, location = chain[where]
            return httpx.Response(status, headers={"location": location})
        return httpx.Response(200, json={"at": where, "method": request.method})

    return handle


async def test_redirects_are_followed_and_every_hop_is_checked() -> None:
    chain = {"api.example.test/x": (302, "https://other.example.test/y"), "other.example.test/y": (301, "/z")}
    c, server, resolver = connector(redirecting(chain), table={"other.example.test": ["93.184.215.15"]})
    outcome = await call(c, params(headers={"Authorization": "Bearer t"}))
    assert outcome == Succeeded(
        {"status": 200, "headers": outcome.output["headers"], "body": {"at": "other.example.test/z", "method": "GET"}}
    )
    assert [h for h, _ in resolver.asked] == ["api.example.test", "other.example.test", "other.example.test"]
    assert [r.url.host for r in server.requests] == [PUBLIC, "93.184.215.15", "93.184.215.15"]
    assert "authorization" in server.requests[0].headers
    assert "authorization" not in server.requests[1].headers  # credentials never follow to another origin
    assert all(r.headers["idempotency-key"] == "ex_1:call:2" for r in server.requests)


async def test_a_redirect_to_a_private_address_is_refused() -> None:
    chain = {"api.example.test/x": (307, "http://169.254.169.254/latest/meta-data/")}
    c, server, _ = connector(redirecting(chain))
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and not outcome.retryable and "metadata" in outcome.message
    assert len(server.requests) == 1
    chain = {"api.example.test/x": (302, "http://rebind.example.test/")}
    c, server, _ = connector(redirecting(chain), table={"rebind.example.test": ["127.0.0.1"]})
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and "loopback" in outcome.message


async def test_redirect_methods_and_bodies() -> None:
    chain = {"api.example.test/x": (303, "/see"), "api.example.test/keep": (307, "/kept")}
    c, server, _ = connector(redirecting(chain))
    outcome = await call(c, params(method="POST", body={"a": 1}))
    assert isinstance(outcome, Succeeded) and outcome.output["body"]["method"] == "GET"
    assert server.requests[1].content == b"" and "content-type" not in server.requests[1].headers
    outcome = await call(c, params(method="PUT", url="https://api.example.test/keep", body={"a": 1}))
    assert isinstance(outcome, Succeeded) and outcome.output["body"]["method"] == "PUT"
    assert json.loads(server.requests[-1].content) == {"a": 1}


async def test_too_many_redirects_fail_without_retry() -> None:
    c, server, _ = connector(lambda request: httpx.Response(302, headers={"location": "/again"}))
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and not outcome.retryable and "more than 5 redirects" in outcome.message
    assert len(server.requests) == 6


async def test_a_redirect_to_another_scheme_is_refused() -> None:
    c, _, _ = connector(lambda request: httpx.Response(302, headers={"location": "file:///etc/passwd"}))
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and not outcome.retryable and "only http and https" in outcome.message


async def test_an_oversized_response_fails_without_retry() -> None:
    c, _, _ = connector(lambda request: httpx.Response(200, content=b"x" * 2048), max_response_bytes=1024)
    outcome = await call(c, params())
    assert isinstance(outcome, Failed) and not outcome.retryable and "over 1024 bytes" in outcome.message


async def test_plain_http_has_no_sni_and_keeps_connections() -> None:
    c, server, _ = connector(ok())
    await call(c, params(url="http://api.example.test/"))
    (sent,) = server.requests
    assert "sni_hostname" not in sent.extensions
    assert sent.headers["host"] == "api.example.test"
    assert sent.headers.get("connection") != "close"


async def test_the_next_checked_address_is_tried_when_one_does_not_connect() -> None:
    def handle(request: httpx.Request) -> httpx.Response:
        if request.url.host == "2606:4700::1":
            raise httpx.ConnectError("network unreachable")
        return httpx.Response(200, json={"via": request.url.host})

    c, _, _ = connector(handle, table={"dual.example.test": ["2606:4700::1", PUBLIC]})
    outcome = await call(c, params(url="https://dual.example.test/"))
    assert isinstance(outcome, Succeeded) and outcome.output["body"] == {"via": PUBLIC}
    c, _, _ = connector(handle, table={"v6.example.test": ["2606:4700::1"]})
    outcome = await call(c, params(url="https://v6.example.test/"))
    assert isinstance(outcome, Failed) and outcome.retryable and "network unreachable" in outcome.message


async def test_error_messages_never_show_credentials_or_the_query() -> None:
    c, _, _ = connector(lambda request: httpx.Response(500))
    outcome = await call(c, params(url="https://user:s3cret@api.example.test/p?token=s3cret"))
    assert isinstance(outcome, Failed) and "https://api.example.test/p answered 500" in outcome.message
    assert "s3cret" not in outcome.message
