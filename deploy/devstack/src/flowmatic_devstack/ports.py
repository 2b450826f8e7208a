"""Port checks: refuse to start on a port something else already listens on, and pick free ports for tests."""

from __future__ import annotations

import socket
from collections.abc import Mapping

from flowmatic_devstack.errors import DevstackError

HOST = "127.0.0.1"


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether a server could listen on `host:port` now.

    SO_REUSEADDR as the servers themselves set it, so a port whose last user left it in TIME_WAIT counts as free
    and only a live listener makes it taken.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
        return True


def ensure_ports_free(ports: Mapping[str, int]) -> None:
    """Fail with one clear line naming the first component whose port is taken (checked before starting anything)."""
    for component, port in ports.items():
        if not port_is_free(port):
            raise DevstackError(
                f"port {port} for {component} is already in use on {HOST}: stop what uses it, "
                f"or choose another port (see the README's configuration table)"
            )


def free_port(host: str = HOST) -> int:
    """A port the kernel just handed out as unused (for tests, which start several stacks side by side)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
