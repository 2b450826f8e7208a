"""The query service over HTTP: the sync barrier and every forwarded read."""

from __future__ import annotations

import httpx

from flowmatic_gateway.ports import ForwardedResponse, QueryUnavailableError

SYNC_PATH = "/internal/sync"


class HttpQueryClient:
    """Implements QueryClient with an httpx client whose base URL is the query service."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self._client = client

    async def sync(self) -> None:
        try:
            response = await self._client.post(SYNC_PATH)
        except httpx.HTTPError as error:
            raise QueryUnavailableError(f"query service unreachable: {type(error).__name__}") from error
        if response.status_code >= 300:
            raise QueryUnavailableError(f"query service sync answered {response.status_code}")

    async def get(self, path: str, query: str = "") -> ForwardedResponse:
        url = httpx.URL(path, query=query.encode("ascii", "replace"))
        try:
            response = await self._client.get(url)
        except httpx.HTTPError as error:
            raise QueryUnavailableError(f"query service unreachable: {type(error).__name__}") from error
        return ForwardedResponse(
            status=response.status_code,
            body=response.content,
            content_type=response.headers.get("content-type", "application/json"),
        )
