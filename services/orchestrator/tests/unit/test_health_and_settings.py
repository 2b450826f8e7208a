"""The health endpoints and the settings' derived names."""

from __future__ import annotations

import httpx
import pytest

from flowmatic_orchestrator.entrypoints.health import create_app
from flowmatic_orchestrator.settings import Settings


async def get(ready: bool, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=create_app(lambda: ready))
    async with httpx.AsyncClient(transport=transport, base_url="http://orchestrator") as client:
        return await client.get(path)


async def test_healthz_answers_while_not_ready() -> None:
    response = await get(False, "/healthz")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


async def test_readyz_is_503_problem_until_ready() -> None:
    response = await get(False, "/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 503
    assert (await get(True, "/readyz")).status_code == 200


def test_settings_come_from_the_documented_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "broker:1234")
    monkeypatch.setenv("FLOWMATIC_TOPIC_PREFIX", "acme.")
    monkeypatch.setenv("FLOWMATIC_INSTANCE_ID", "3")
    monkeypatch.setenv("FLOWMATIC_ORCHESTRATOR_PORT", "9999")
    monkeypatch.setenv("FLOWMATIC_ORCHESTRATOR_RETRY_BACKOFF_MS", "35")
    settings = Settings()
    assert settings.kafka_bootstrap_servers == "broker:1234" and settings.port == 9999
    assert settings.retry_backoff_ms == 35
    assert settings.host == "127.0.0.1"
    assert settings.topics.commands == "acme.commands"
    assert settings.group_id == "acme.orchestrator"
    assert settings.transactional_id == "acme.orchestrator-3"


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KAFKA_BOOTSTRAP_SERVERS",
        "FLOWMATIC_TOPIC_PREFIX",
        "FLOWMATIC_INSTANCE_ID",
        "FLOWMATIC_ORCHESTRATOR_PORT",
    ):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert (settings.topic_prefix, settings.instance_id, settings.port) == ("flowmatic.", "0", 8082)
    assert settings.transactional_id == "flowmatic.orchestrator-0"
