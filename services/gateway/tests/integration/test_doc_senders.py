"""The copy-paste senders of docs/webhooks.md (Python and curl, both schemes), run as written against the real
stack: a doc whose senders stop working fails here."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowmatic_devstack.pytest_plugin import RunningStack

pytestmark = pytest.mark.integration
DOC = Path(__file__).resolve().parents[4] / "docs" / "webhooks.md"
PLAIN_SECRET = "s3cr3t-for-the-doc"
STANDARD_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL | re.MULTILINE)


def python_senders() -> dict[str, Any]:
    [block] = code_blocks("python")
    namespace: dict[str, Any] = {"__name__": "docs_webhooks_senders"}  # not __main__: the example call stays out
    exec(compile(block, str(DOC), "exec"), namespace)  # our own documentation, under test
    return namespace


def curl_senders() -> list[str]:
    return [block for block in code_blocks("bash") if "curl" in block]


async def webhook_url(api: httpx.AsyncClient, secret: str) -> str:
    spec = {"name": "doc", "nodes": [{"id": "trigger", "type": "webhook", "parameters": {"secret": secret}}]}
    created = await api.post("/api/v1/workflows", json=spec)
    assert created.status_code == 201, created.text
    url: str = created.json()["webhooks"][0]["url"]
    return url


async def test_the_documented_senders_work(stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.admin_key}"}
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=headers, timeout=30) as api:
        plain_url = await webhook_url(api, PLAIN_SECRET)
        standard_url = await webhook_url(api, STANDARD_SECRET)

    senders = python_senders()
    by_header: Callable[..., tuple[int, bytes]] = senders["send_with_signature_header"]
    standard: Callable[..., tuple[int, bytes]] = senders["send_standard_webhook"]
    payload = {"customer_id": "cust_123", "data": {"amount": 99.99}}
    calls = [
        (by_header, plain_url, PLAIN_SECRET, 200),
        (standard, plain_url, PLAIN_SECRET, 200),  # a secret without whsec_ is used as its bytes
        (standard, standard_url, STANDARD_SECRET, 200),
        (by_header, standard_url, STANDARD_SECRET, 200),
        (by_header, plain_url, "not-the-secret", 401),
        (standard, standard_url, "whsec_b3RoZXItc2VjcmV0", 401),
    ]
    for send, url, secret, status in calls:
        got, body = await asyncio.to_thread(send, url, secret, payload)
        assert got == status, (send.__name__, url, body)
        if status == 200:
            assert b"Webhook received and workflow triggered" in body

    [sha256_block, standard_block] = curl_senders()
    for block, url, secret in [
        (sha256_block, plain_url, PLAIN_SECRET),
        (standard_block, standard_url, STANDARD_SECRET),
    ]:
        script = re.sub(r'^URL=".*"$', f'URL="{url}"', block, count=1, flags=re.MULTILINE)
        script = re.sub(r'^SECRET=".*"$', f'SECRET="{secret}"', script, count=1, flags=re.MULTILINE)
        assert script != block
        process = await asyncio.create_subprocess_exec(
            "bash", "-euo", "pipefail", "-c", script, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
        assert process.returncode == 0, err.decode()
        assert b"Webhook received and workflow triggered" in out, (out, err)
