"""Replay through the four real services (the devstack `shared_stack`): whole, from a node, on the latest version,
refusals, and bulk replay with a dry run. The original and its history must come out untouched."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
import pytest

from flowmatic_devstack.pytest_plugin import RunningStack

pytestmark = pytest.mark.integration
DEADLINE_SECONDS = 60.0


class Counter:
    """How many requests the local HTTP server answered (each answer carries the count so far)."""

    def __init__(self) -> None:
        self.hits = 0
        self.lock = threading.Lock()


@pytest.fixture
def counting_server() -> Iterator[tuple[str, Counter]]:
    """A threaded HTTP server on 127.0.0.1 that counts GETs: an `http_request` node's calls, made visible."""
    counter = Counter()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with counter.lock:
                counter.hits += 1
                hits = counter.hits
            reply = orjson.dumps({"call": hits})
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", counter
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


async def finished(api: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    """The execution once it is no longer RUNNING."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while True:
        response = await api.get(f"/api/v1/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] != "RUNNING":
            body: dict[str, Any] = response.json()
            return body
        if time.monotonic() > deadline:
            pytest.fail(f"execution {execution_id} did not finish: {response.status_code} {response.text}")
        await asyncio.sleep(0.1)


async def events(api: httpx.AsyncClient, execution_id: str) -> list[dict[str, Any]]:
    response = await api.get(f"/api/v1/executions/{execution_id}/events")
    assert response.status_code == 200, response.text
    data: list[dict[str, Any]] = response.json()["data"]
    return data


def scheduled(history: list[dict[str, Any]]) -> set[str]:
    return {e["payload"]["nodeId"] for e in history if e["type"] == "StepScheduled"}


def step(execution: dict[str, Any], node_id: str) -> dict[str, Any]:
    found: dict[str, Any] = next(s for s in execution["steps"] if s["nodeId"] == node_id)
    return found


def fetch_workflow(base_url: str, tag: str) -> dict[str, Any]:
    """trigger → fetch (http_request, counted) → shape → final (which carries `tag`)."""
    return {
        "name": "replayable",
        "nodes": [
            {"id": "trigger", "type": "webhook", "parameters": {"methods": ["POST"]}},
            {"id": "fetch", "type": "http_request", "parameters": {"method": "GET", "url": f"{base_url}/hit"}},
            {"id": "shape", "type": "set", "parameters": {"fields": {"call": "{{$input.body.call}}", "n": "{{n}}"}}},
            {"id": "final", "type": "set", "parameters": {"fields": {"tag": tag}, "keepInput": True}},
        ],
        "connections": [
            {"from": "trigger", "to": "fetch"},
            {"from": "fetch", "to": "shape"},
            {"from": "shape", "to": "final"},
        ],
    }


async def test_replay_whole_from_a_node_and_on_the_latest_version(
    shared_stack: RunningStack, counting_server: tuple[str, Counter]
) -> None:
    base_url, counter = counting_server
    headers = {"Authorization": f"Bearer {shared_stack.admin_key}"}
    async with httpx.AsyncClient(base_url=shared_stack.gateway_url, headers=headers, timeout=30) as api:
        created = await api.post("/api/v1/workflows", json=fetch_workflow(base_url, "v1"))
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]
        webhook_id = created.json()["webhooks"][0]["webhookId"]
        delivered = await api.post(f"/api/webhooks/{webhook_id}", json={"n": 7}, headers={"X-Trace": "abc"})
        assert delivered.status_code == 200, delivered.text
        original_id = delivered.json()["executionId"]
        original = await finished(api, original_id)
        assert original["status"] == "SUCCEEDED" and counter.hits == 1
        assert original["input"]["_webhook"]["headers"]["x-trace"] == "abc"
        original_events = await events(api, original_id)

        # Whole: a new execution of the same definition and input; every node runs again.
        whole = await api.post(f"/api/v1/executions/{original_id}/replay")
        assert whole.status_code == 202, whole.text
        whole_id = whole.json()["executionId"]
        assert whole.json() == {"executionId": whole_id, "replayOf": original_id, "status": "RUNNING"}
        assert whole_id != original_id
        assert whole.headers["location"].endswith(f"/api/v1/executions/{whole_id}")
        replayed = await finished(api, whole_id)
        assert (
            replayed["status"] == "SUCCEEDED" and replayed["mode"] == "replay" and replayed["replayOf"] == original_id
        )
        assert replayed["input"] == original["input"]  # `_webhook` included
        assert replayed["workflowVersion"] == 1
        assert counter.hits == 2
        assert step(replayed, "final")["output"] == {"call": 2, "n": 7, "tag": "v1"}

        # From a node: `fetch` (before `shape`) is not called again; its recorded output is reused.
        from_shape = await api.post(f"/api/v1/executions/{original_id}/replay", json={"fromNode": "shape"})
        assert from_shape.status_code == 202, from_shape.text
        from_shape_id = from_shape.json()["executionId"]
        partial = await finished(api, from_shape_id)
        assert partial["status"] == "SUCCEEDED" and partial["replayOf"] == original_id
        assert counter.hits == 2
        assert step(partial, "fetch")["output"] == step(original, "fetch")["output"]
        assert step(partial, "final")["output"] == {"call": 1, "n": 7, "tag": "v1"}  # the original call's answer
        partial_events = await events(api, from_shape_id)
        assert "fetch" not in scheduled(partial_events) and {"shape", "final"} <= scheduled(partial_events)
        assert set(partial_events[0]["payload"]["reusedOutputs"]) == {"fetch"}

        # Latest: after a PUT, the new definition runs on the original input; "original" still runs version 1.
        changed = await api.put(f"/api/v1/workflows/{workflow_id}", json=fetch_workflow(base_url, "v2"))
        assert changed.status_code == 200, changed.text
        latest = await api.post(
            f"/api/v1/executions/{original_id}/replay", json={"workflowVersion": "latest", "fromNode": "final"}
        )
        assert latest.status_code == 202, latest.text
        on_latest = await finished(api, latest.json()["executionId"])
        assert on_latest["workflowVersion"] == 2 and on_latest["status"] == "SUCCEEDED"
        assert step(on_latest, "final")["output"] == {"call": 1, "n": 7, "tag": "v2"}
        again = await api.post(f"/api/v1/executions/{original_id}/replay", json={"workflowVersion": "original"})
        assert again.status_code == 202, again.text
        on_original = await finished(api, again.json()["executionId"])
        assert on_original["workflowVersion"] == 1 and step(on_original, "final")["output"]["tag"] == "v1"
        assert counter.hits == 3

        # Refusals.
        for body in ({"fromNode": "nowhere"}, {"fromNode": "trigger"}, {"workflowVersion": "newest"}):
            refused = await api.post(f"/api/v1/executions/{original_id}/replay", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.headers["content-type"].startswith("application/problem+json")
        unknown = await api.post("/api/v1/executions/ex_doesnotexist/replay")
        assert unknown.status_code == 404, unknown.text

        # The original is untouched: the same document and the same history as before any replay.
        assert (await api.get(f"/api/v1/executions/{original_id}")).json() == original
        assert await events(api, original_id) == original_events

        # Replays are audited as such, and every event chain (these executions' too) is intact.
        audit = await api.get("/api/v1/audit", params={"action": "execution.replay"})
        assert audit.status_code == 200, audit.text
        replay_ids = {whole_id, from_shape_id, latest.json()["executionId"], again.json()["executionId"]}
        assert replay_ids <= {entry["aggregateId"] for entry in audit.json()["data"]}
        verified = await api.get("/api/v1/audit/verify")
        assert verified.status_code == 200 and verified.json()["ok"] is True, verified.text


def delayed_workflow() -> dict[str, Any]:
    return {
        "name": "delayed",
        "nodes": [
            {"id": "start", "type": "manual"},
            {"id": "wait", "type": "delay", "parameters": {"seconds": "{{seconds}}"}},
            {"id": "done", "type": "set", "parameters": {"fields": {"i": "{{i}}"}}},
        ],
        "connections": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "done"}],
    }


async def test_a_running_execution_is_refused_and_bulk_replay_selects_the_finished_ones(
    shared_stack: RunningStack,
) -> None:
    headers = {"Authorization": f"Bearer {shared_stack.admin_key}"}
    async with httpx.AsyncClient(base_url=shared_stack.gateway_url, headers=headers, timeout=60) as api:
        created = await api.post("/api/v1/workflows", json=delayed_workflow())
        assert created.status_code == 201, created.text
        workflow_id = created.json()["id"]

        async def execute(seconds: int, i: int) -> str:
            started = await api.post(f"/api/v1/workflows/{workflow_id}/execute", json={"seconds": seconds, "i": i})
            assert started.status_code == 202, started.text
            execution_id: str = started.json()["executionId"]
            return execution_id

        done = [await execute(0, i) for i in range(3)]
        for execution_id in done:
            assert (await finished(api, execution_id))["status"] == "SUCCEEDED"
        running = await execute(60, 99)  # a delay keeps it running past the end of the test

        refused = await api.post(f"/api/v1/executions/{running}/replay")
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"].startswith("application/problem+json")

        dry = await api.post("/api/v1/executions/replay", json={"workflowId": workflow_id, "dryRun": True})
        assert dry.status_code == 200, dry.text
        assert dry.json()["count"] == 3 and sorted(dry.json()["executionIds"]) == sorted(done)

        real = await api.post("/api/v1/executions/replay", json={"workflowId": workflow_id, "status": "SUCCEEDED"})
        assert real.status_code == 202, real.text
        new_ids = real.json()["executionIds"]
        assert real.json()["count"] == 3 and len(set(new_ids)) == 3 and not set(new_ids) & {*done, running}
        replays = [await finished(api, execution_id) for execution_id in new_ids]
        assert sorted(r["replayOf"] for r in replays) == sorted(done)
        assert all(r["mode"] == "replay" and r["status"] == "SUCCEEDED" for r in replays)
        originals = {
            execution_id: (await api.get(f"/api/v1/executions/{execution_id}")).json() for execution_id in done
        }
        for replay in replays:
            assert replay["input"] == originals[replay["replayOf"]]["input"]

        # The replays are finished executions of the workflow too; a filter that matches none replays none.
        again = await api.post("/api/v1/executions/replay", json={"workflowId": workflow_id, "dryRun": True})
        assert again.json()["count"] == 6
        none = await api.post("/api/v1/executions/replay", json={"workflowId": workflow_id, "status": "FAILED"})
        assert none.status_code == 202 and none.json() == {"count": 0, "executionIds": []}

        for body in ({}, {"workflowId": workflow_id, "since": "yesterday"}, {"workflowId": workflow_id, "x": 1}):
            invalid = await api.post("/api/v1/executions/replay", json=body)
            assert invalid.status_code == 422, (body, invalid.text)
        listed = await api.get("/api/v1/executions", params={"workflowId": workflow_id, "limit": 200})
        assert len(listed.json()["data"]) == 7  # dry runs and refusals started nothing
        for execution_id in done:
            assert (await api.get(f"/api/v1/executions/{execution_id}")).json() == originals[execution_id]
