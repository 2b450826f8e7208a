"""Refusing to start on a port something already listens on."""

from __future__ import annotations

import socket

import pytest

from flowmatic_devstack.errors import DevstackError
from flowmatic_devstack.ports import ensure_ports_free, free_port, port_is_free


def test_a_port_with_a_listener_is_taken_and_a_closed_one_is_free() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        assert not port_is_free(port)

    assert port_is_free(port)


def test_a_taken_port_is_a_one_line_error_naming_the_component() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        taken = listener.getsockname()[1]

        with pytest.raises(DevstackError) as raised:
            ensure_ports_free({"kafka": free_port(), "gateway": taken})

    assert str(raised.value).startswith(f"port {taken} for gateway is already in use on 127.0.0.1")
    assert "\n" not in str(raised.value)
