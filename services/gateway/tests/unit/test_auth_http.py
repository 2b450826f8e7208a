"""Authentication over HTTP: checked before routing, challenges, token exchange, scopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowmatic_contracts.envelope import Actor
from flowmatic_gateway.domain.auth import WORKFLOWS_READ, WORKFLOWS_WRITE, Principal, hash_api_key
from flowmatic_gateway.entrypoints.dependencies import GatewayDeps

Problem = Callable[[httpx.Response, int], dict[str, Any]]
CHALLENGE = 'Bearer realm="flowmatic"'
INVALID = 'Bearer realm="flowmatic", error="invalid_token"'
ADMIN_KEY = "test-admin-key"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/workflows"),
        ("POST", "/api/v1/workflows"),
        ("PUT", "/api/v1/workflows/x"),
        ("DELETE", "/api/v1/workflows/x"),
        ("POST", "/api/v1/workflows/x/execute"),
        ("GET", "/api/v1/connectors"),
        ("GET", "/api/v1/anything-unknown"),
        ("PATCH", "/api/v1/workflows"),
        ("GET", "/api/v1"),
    ],
)
async def test_missing_token_is_401_before_routing(
    anon: httpx.AsyncClient, problem: Problem, method: str, path: str
) -> None:
    resp = await anon.request(method, path, content=b'{"broken": ')
    problem(resp, 401)
    assert resp.headers["www-authenticate"] == CHALLENGE


async def test_another_scheme_counts_as_no_token(anon: httpx.AsyncClient, problem: Problem) -> None:
    resp = await anon.get("/api/v1/workflows", headers={"Authorization": "Basic YTpi"})
    problem(resp, 401)
    assert resp.headers["www-authenticate"] == CHALLENGE


@pytest.mark.parametrize("token", ["not-a-real-token", "fm1.abc.def", ""])
async def test_bad_token_is_401_invalid_token(anon: httpx.AsyncClient, problem: Problem, token: str) -> None:
    resp = await anon.get("/api/v1/executions", headers={"Authorization": f"Bearer {token}"})
    problem(resp, 401)
    assert resp.headers["www-authenticate"] == INVALID


async def test_with_a_token_unknown_paths_are_404_and_wrong_methods_405(
    api: httpx.AsyncClient, problem: Problem
) -> None:
    problem(await api.get("/api/v1/anything-unknown"), 404)
    problem(await api.post("/api/v1/workflows/x/execute", json={}), 404)
    resp = await api.post("/api/v1/executions", json={})
    problem(resp, 405)
    assert resp.headers["allow"] == "GET"


async def test_api_key_exchanges_for_a_working_token(anon: httpx.AsyncClient) -> None:
    resp = await anon.post("/api/v1/auth/token", json={"apiKey": ADMIN_KEY})
    assert resp.status_code == 200, resp.text
    token = resp.json()
    assert token["tokenType"] == "Bearer" and token["expiresIn"] == 3600
    assert resp.headers["cache-control"] == "no-store"
    listed = await anon.get("/api/v1/connectors", headers={"Authorization": f"Bearer {token['accessToken']}"})
    assert listed.status_code == 200
    assert {c["type"] for c in listed.json()["data"]} >= {"webhook", "manual", "if", "switch", "noop"}


async def test_wrong_key_gets_no_token(anon: httpx.AsyncClient, problem: Problem) -> None:
    problem(await anon.post("/api/v1/auth/token", json={"apiKey": "wrong"}), 401)
    problem(await anon.post("/api/v1/auth/token", json={"key": ADMIN_KEY}), 422)
    problem(await anon.post("/api/v1/auth/token", content=b"{"), 400)


async def test_expired_token_is_invalid(anon: httpx.AsyncClient, deps: GatewayDeps, problem: Problem) -> None:
    token = (await anon.post("/api/v1/auth/token", json={"apiKey": ADMIN_KEY})).json()["accessToken"]
    issued_at = deps.clock()
    deps.clock = lambda: issued_at + 3600
    resp = await anon.get("/api/v1/connectors", headers={"Authorization": f"Bearer {token}"})
    problem(resp, 401)
    assert resp.headers["www-authenticate"] == INVALID


async def test_a_token_without_the_scope_is_403(anon: httpx.AsyncClient, problem: Problem) -> None:
    resp = await anon.post("/api/v1/auth/token", json={"apiKey": ADMIN_KEY, "scopes": [WORKFLOWS_READ]})
    headers = {"Authorization": f"Bearer {resp.json()['accessToken']}"}
    problem(await anon.post("/api/v1/workflows", json={}, headers=headers), 403)
    problem(await anon.get("/api/v1/executions", headers=headers), 403)
    problem(await anon.get("/api/v1/audit", headers=headers), 403)
    assert (await anon.get("/api/v1/workflows", headers=headers)).status_code == 404  # allowed; the fake has no list


async def test_scopes_must_be_known_and_granted(anon: httpx.AsyncClient, deps: GatewayDeps, problem: Problem) -> None:
    problem(await anon.post("/api/v1/auth/token", json={"apiKey": ADMIN_KEY, "scopes": ["root"]}), 422)
    deps.keys.add("reader", hash_api_key("reader-key"), {WORKFLOWS_READ})
    problem(await anon.post("/api/v1/auth/token", json={"apiKey": "reader-key", "scopes": [WORKFLOWS_WRITE]}), 403)


async def test_a_token_from_another_instance_works(anon: httpx.AsyncClient, deps: GatewayDeps) -> None:
    token = deps.tokens.issue(Principal("admin", frozenset({WORKFLOWS_READ})), deps.clock())
    assert (await anon.get("/api/v1/connectors", headers={"Authorization": f"Bearer {token}"})).status_code == 200


async def test_the_actor_is_the_key_id_never_the_key(api: httpx.AsyncClient, deps: GatewayDeps) -> None:
    spec = {"name": "n", "nodes": [{"id": "t", "type": "manual"}]}
    assert (await api.post("/api/v1/workflows", json=spec)).status_code == 201
    [sent] = deps.commands.sent  # type: ignore[attr-defined]
    assert sent.actor == Actor(kind="apiKey", id="admin")
    assert ADMIN_KEY not in sent.model_dump_json()


async def test_health_and_docs_need_no_token(anon: httpx.AsyncClient) -> None:
    assert (await anon.get("/healthz")).status_code == 200
    assert (await anon.get("/readyz")).status_code == 200
    assert (await anon.get("/openapi.json")).json()["info"]["title"] == "Flowmatic"
    assert (await anon.get("/docs")).status_code == 200


async def test_405_names_every_method_of_the_path(api: httpx.AsyncClient, problem: Problem) -> None:
    resp = await api.patch("/api/v1/workflows/wf_1", json={})
    problem(resp, 405)
    assert resp.headers["allow"] == "DELETE, GET, PUT"
