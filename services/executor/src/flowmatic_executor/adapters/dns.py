"""Host name resolution, behind a port so the SSRF guard is tested with a fake resolver."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from typing import Protocol

from flowmatic_executor.domain.addresses import IPAddress


class ResolutionError(OSError):
    """The host name does not resolve (possibly a passing DNS problem, so retryable)."""


class Resolver(Protocol):
    """Turns a host name into the addresses a connection to it could use."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]: ...


class SystemResolver:
    """The operating system's resolver (`getaddrinfo`), run off the event loop."""

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise ResolutionError(f"cannot resolve {host}: {exc.strerror}") from None
        addresses: list[IPAddress] = []
        for _family, _type, _proto, _canonname, sockaddr in infos:
            # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"); the zone is not part of the address.
            address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
            if address not in addresses:
                addresses.append(address)
        if not addresses:
            raise ResolutionError(f"cannot resolve {host}: no addresses")
        return addresses
