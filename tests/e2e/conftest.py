"""Fixtures of the end-to-end tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from flowmatic_devstack.testing import EchoServer


@pytest.fixture(scope="session")
def echo() -> Iterator[EchoServer]:
    """A local HTTP server for http_request nodes (the stacks allow private networks in tests)."""
    server = EchoServer()
    yield server
    server.close()
