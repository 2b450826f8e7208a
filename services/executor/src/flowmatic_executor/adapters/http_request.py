"""The `http_request` connector: one outbound call with httpx, guarded against server-side request forgery.

Every hop (the first request and each redirect, followed here by hand, at most `MAX_REDIRECTS`) resolves its
host and refuses the call when any of its addresses is loopback, private, link-local, multicast, unspecified,
reserved or a cloud metadata address (unless private networks are allowed). The connection is then pinned to
the address that was checked: the request goes to the IP itself, with the original `Host` header and, for
HTTPS, the original name for SNI and certificate checks (and `Connection: close`, so a TLS connection verified
for one name is never reused for another name on the same IP). So a DNS answer that changes between the check and
the connect (DNS rebinding) cannot steer the call elsewhere.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

import httpx

from flowmatic_contracts.connectors import HttpRequestParameters
from flowmatic_executor.adapters.dns import ResolutionError, Resolver
from flowmatic_executor.domain.addresses import IPAddress, refusal_reason
from flowmatic_executor.domain.bodies import decode_body, is_json, media_type
from flowmatic_executor.domain.outcomes import Failed, StepOutcome, Succeeded

log = logging.getLogger(__name__)

MAX_REDIRECTS: Final = 5
REDIRECT_STATUSES: Final = frozenset({301, 302, 303, 307, 308})
# Headers that must not follow a redirect to another origin.
_CREDENTIAL_HEADERS: Final = frozenset({"authorization", "cookie", "proxy-authorization"})


class AddressRefusedError(Exception):
    """The target resolves to an address `http_request` must not reach."""


class ResponseTooLargeError(Exception):
    """The response body is over the configured limit."""


@dataclass(frozen=True)
class HttpRequestPolicy:
    allow_private_networks: bool = False
    max_response_bytes: int = 10 * 1024 * 1024


class HttpRequestConnector:
    """Runs `http_request` steps through a shared `httpx.AsyncClient` (which must not follow redirects)."""

    def __init__(self, client: httpx.AsyncClient, resolver: Resolver, policy: HttpRequestPolicy) -> None:
        self._client = client
        self._resolver = resolver
        self._policy = policy

    async def run(
        self, parameters: HttpRequestParameters, *, idempotency_key: str, timeout_seconds: float
    ) -> StepOutcome:
        """Call the URL; never raises for the call's own failures, which become a `Failed` outcome."""
        method = parameters.method
        url = httpx.URL(parameters.url)
        try:
            async with asyncio.timeout(timeout_seconds):
                return await self._call(parameters, url, method, idempotency_key, timeout_seconds)
        except AddressRefusedError as exc:
            return Failed(str(exc), retryable=False)
        except ResponseTooLargeError as exc:
            return Failed(str(exc), retryable=False)
        except (TimeoutError, httpx.TimeoutException):
            return Failed(f"{method} {_shown(url)} timed out after {timeout_seconds:g} s", retryable=True)
        except ResolutionError as exc:
            return Failed(f"{method} {_shown(url)}: {exc}", retryable=True)
        except httpx.TransportError as exc:
            return Failed(f"{method} {_shown(url)} failed: {type(exc).__name__}: {exc}".rstrip(": "), retryable=True)
        except (httpx.InvalidURL, ValueError) as exc:
            return Failed(f"{method} {_shown(url)}: {exc}", retryable=False)

    async def _call(
        self,
        parameters: HttpRequestParameters,
        url: httpx.URL,
        method: str,
        idempotency_key: str,
        timeout_seconds: float,
    ) -> StepOutcome:
        headers = {name: value for name, value in parameters.headers.items() if name.lower() != "idempotency-key"}
        headers["Idempotency-Key"] = idempotency_key
        content = _encode_body(parameters.body, headers)
        if parameters.query:
            url = url.copy_merge_params(_query_params(parameters.query))
        for _hop in range(MAX_REDIRECTS + 1):
            response, body = await self._send_pinned(method, url, headers, content, timeout_seconds)
            location = response.headers.get("location")
            if response.status_code not in REDIRECT_STATUSES or not location:
                return _outcome(method, url, response, body, parameters.fail_on_error)
            next_url = url.join(location)
            if response.status_code == 303 or (response.status_code in (301, 302) and method == "POST"):
                # What every client does: the redirected request is a GET without the body.
                method, content = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in ("content-type", "content-length")}
            if (next_url.scheme, next_url.host, next_url.port) != (url.scheme, url.host, url.port):
                headers = {k: v for k, v in headers.items() if k.lower() not in _CREDENTIAL_HEADERS}
            url = next_url
        return Failed(
            f"{parameters.method} {_shown(httpx.URL(parameters.url))}: more than {MAX_REDIRECTS} redirects",
            retryable=False,
        )

    async def _send_pinned(
        self, method: str, url: httpx.URL, headers: Mapping[str, str], content: bytes | None, timeout_seconds: float
    ) -> tuple[httpx.Response, bytes]:
        if url.scheme not in ("http", "https"):
            raise AddressRefusedError(f"refusing {_shown(url)}: only http and https URLs may be called")
        addresses = await self._checked_addresses(url)
        pinned_headers = {k: v for k, v in headers.items() if k.lower() != "host"}
        pinned_headers["Host"] = url.netloc.decode("ascii")
        extensions: dict[str, Any] = {"timeout": httpx.Timeout(timeout_seconds).as_dict()}
        if url.scheme == "https" and not _is_ip_literal(url.host):
            extensions["sni_hostname"] = url.raw_host.decode("ascii")
            # The pool keys connections by the IP; never hand this TLS session (verified for this name) to a
            # request for another name on the same address.
            pinned_headers["Connection"] = "close"
        for index, address in enumerate(addresses):
            request = self._client.build_request(
                method, url.copy_with(host=str(address)), headers=pinned_headers, content=content, extensions=extensions
            )
            try:
                response = await self._client.send(request, stream=True, follow_redirects=False)
            except httpx.ConnectError:
                if index == len(addresses) - 1:
                    raise
                continue  # nothing was sent: the next checked address of the same name may answer
            try:
                body = await self._read_limited(response, url)
            finally:
                await response.aclose()
            return response, body
        raise ResolutionError(f"cannot resolve {url.host}: no addresses")

    async def _checked_addresses(self, url: httpx.URL) -> list[IPAddress]:
        """Every address the host resolves to, each one checked; the call may use any of them."""
        host = url.host
        if _is_ip_literal(host):
            addresses: list[IPAddress] = [ipaddress.ip_address(host)]
        else:
            port = url.port or (443 if url.scheme == "https" else 80)
            addresses = await self._resolver.resolve(url.raw_host.decode("ascii"), port)
        if not self._policy.allow_private_networks:
            for address in addresses:
                reason = refusal_reason(address)
                if reason is not None:
                    where = host if _is_ip_literal(host) else f"{host} resolves to {address}, which"
                    raise AddressRefusedError(f"refusing {_shown(url)}: {where} is {reason}")
        return addresses

    async def _read_limited(self, response: httpx.Response, url: httpx.URL) -> bytes:
        limit = self._policy.max_response_bytes
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ResponseTooLargeError(f"the response from {_shown(url)} is over {limit} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


def _shown(url: httpx.URL) -> str:
    """A URL for an error message: without credentials and query, which may carry secrets."""
    return str(url.copy_with(username=None, password=None, query=None, fragment=None))


def _is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _encode_body(body: Any, headers: dict[str, str]) -> bytes | None:
    """JSON, unless the caller chose a non-JSON content type for a string body (then the string as UTF-8)."""
    if body is None:
        return None
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None and isinstance(body, str) and not is_json(media_type(content_type)[0]):
        return body.encode("utf-8")
    if content_type is None:
        headers["Content-Type"] = "application/json"
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _query_params(query: Mapping[str, Any]) -> list[tuple[str, str | int | float | bool | None]]:
    """Query values as text: a list repeats its key, None leaves it out, objects are sent as JSON."""
    params: list[tuple[str, str | int | float | bool | None]] = []
    for name, value in query.items():
        for item in value if isinstance(value, list) else [value]:
            if item is not None:
                params.append((name, _query_text(item)))
    return params


def _query_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _outcome(method: str, url: httpx.URL, response: httpx.Response, body: bytes, fail_on_error: bool) -> StepOutcome:
    headers: dict[str, str] = {}
    for name, value in response.headers.multi_items():
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    output = {
        "status": response.status_code,
        "headers": headers,
        "body": decode_body(body, response.headers.get("content-type")),
    }
    if fail_on_error and not 200 <= response.status_code < 300:
        return Failed(
            f"{method} {_shown(url)} answered {response.status_code} {response.reason_phrase}".rstrip(), retryable=True
        )
    return Succeeded(output)
