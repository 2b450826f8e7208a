"""GET /api/v1/workflows against PostgreSQL: pages, filters, and bad parameters."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from flowmatic_contracts import ids
from flowmatic_query.testing.envelopes import created, deleted, updated
from flowmatic_query.testing.harness import EventWriter, Harness

pytestmark = pytest.mark.integration


async def _all_pages(client: httpx.AsyncClient, params: dict[str, Any]) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(50):
        answer = await client.get("/api/v1/workflows", params=params | ({"cursor": cursor} if cursor else {}))
        assert answer.status_code == 200, answer.text
        body = answer.json()
        pages.append([w["id"] for w in body["data"]])
        cursor = body["nextCursor"]
        if cursor is None:
            return pages
    raise AssertionError("pagination never ended")


async def test_pages_cover_every_workflow_once_newest_first(harness: Harness, writer: EventWriter) -> None:
    workflows = [ids.new_id(ids.WORKFLOW) for _ in range(7)]
    await writer.write(*(created(wid, f"paged {i}") for i, wid in enumerate(workflows)))
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        pages = await _all_pages(client, {"limit": 3})
        exact = await _all_pages(client, {"limit": 7})
    assert [len(page) for page in pages] == [3, 3, 1]
    assert [wid for page in pages for wid in page] == sorted(workflows, reverse=True)
    assert exact == [sorted(workflows, reverse=True)]


async def test_filters_by_active_and_name(harness: Harness, writer: EventWriter) -> None:
    on, off, percent, plain, gone = (ids.new_id(ids.WORKFLOW) for _ in range(5))
    await writer.write(
        created(on, "Orders Notify"),
        created(off, "orders archive", active=False),
        created(percent, "50%_off sale"),
        created(plain, "500 off sale"),
        created(gone, "orders gone"),
    )
    await writer.write(updated(off, "orders archive", 2, active=False), deleted(gone, 2))
    await harness.start()
    await harness.synced()

    async def listed(**params: str) -> list[str]:
        answer = await client.get("/api/v1/workflows", params=params)
        assert answer.status_code == 200, answer.text
        return [w["id"] for w in answer.json()["data"]]

    async with harness.client() as client:
        assert sorted(await listed(name="ORDERS")) == sorted([on, off])
        assert await listed(name="orders", active="true") == [on]
        assert await listed(active="false") == [off]
        assert await listed(name="50%_") == [percent]
        assert await listed(name="%") == [percent]
        assert sorted(await listed()) == sorted([on, off, percent, plain])


@pytest.mark.parametrize(
    "params",
    [
        {"limit": "0"},
        {"limit": "ten"},
        {"limit": "-3"},
        {"cursor": "!!"},
        {"cursor": "bm90IGFuIGlk+"},
        {"active": "yes"},
    ],
)
async def test_bad_list_parameters_are_400_problems(harness: Harness, params: dict[str, str]) -> None:
    async with harness.client() as client:
        answer = await client.get("/api/v1/workflows", params=params)
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["status"] == 400 and answer.json()["title"]


async def test_limit_above_200_is_capped(harness: Harness, writer: EventWriter) -> None:
    await writer.write(*(created(ids.new_id(ids.WORKFLOW), f"many {i}") for i in range(205)))
    await harness.start()
    await harness.synced()
    async with harness.client() as client:
        answer = await client.get("/api/v1/workflows", params={"limit": "1000"})
    assert len(answer.json()["data"]) == 200
    assert answer.json()["nextCursor"] is not None
