"""Requests the server makes to a URL someone else registered, made one careful way.

``OutboundClient.request``:

- resolves the host at request time (``loop.getaddrinfo``), checks **every** address it
  resolves to against the ``OutboundPolicy``, and connects to a checked address itself: the
  URL's host is replaced by the address, the original ``Host`` header is sent and, for
  https, the original name is the TLS server name (httpx's ``sni_hostname`` request
  extension), so the certificate is verified for the name while no second DNS lookup
  happens (no DNS-rebinding window between the check and the connection);
- follows no redirect (a 3xx is answered as it is: the caller refuses it), reads no proxy
  or ``.netrc`` from the environment, and keeps no connection alive (a pooled TLS
  connection verified for one name must not carry a request for another on the same
  address);
- waits at most ``timeout`` for each connect and read, and twice that for the whole
  exchange, and reads the body streamed, stopping past ``max_bytes``.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import socket
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import httpx

from tessera_core.outbound.rules import IPAddress, OutboundPolicy, OutboundRefused

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "OutboundClient",
    "OutboundError",
    "OutboundFailed",
    "OutboundResponse",
    "resolve",
    "system_tls",
]

DEFAULT_TIMEOUT_SECONDS = 2.0
DEFAULT_MAX_BYTES = 64 * 1024
USER_AGENT = "tessera-outbound/1"


class OutboundFailed(Exception):
    """The request was allowed but did not give a usable answer: no connection, a timeout,
    a status the caller did not want, a body too large or not what was expected."""


# What a caller catches: the request was refused or it failed.
OutboundError = (OutboundRefused, OutboundFailed)


@dataclass(frozen=True)
class OutboundResponse:
    status: int
    headers: httpx.Headers
    content: bytes


@cache
def system_tls() -> ssl.SSLContext:
    """The TLS trust httpx uses by default (certifi's CA bundle, or ``SSL_CERT_FILE``),
    built once per process: loading the bundle costs ~40 ms of CPU, which every client made
    with ``verify=True`` would spend again (each app start in a worker, each test)."""
    return httpx.create_ssl_context()


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address ``host`` resolves to now (an address literal is itself), in the
    resolver's order, without repeats."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise OutboundFailed(f"{host} does not resolve") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # An IPv6 sockaddr may carry a zone ("fe80::1%eth0"): the address is before it.
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class OutboundClient:
    """One per process (it holds an ``httpx.AsyncClient``); ``aclose`` when done.

    Example:
        >>> outbound = OutboundClient(OutboundPolicy.of(["10.0.0.0/8"]))  # doctest: +SKIP
        >>> keys = await outbound.get_json("https://keys.example.com/jwks.json")  # doctest: +SKIP
    """

    def __init__(
        self,
        policy: OutboundPolicy,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        max_bytes: int = DEFAULT_MAX_BYTES,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        """``verify``: the TLS trust, the system's by default (a context trusting a private
        CA otherwise); ``False`` is never passed outside tests."""
        self.policy = policy
        self.timeout = timeout
        self.max_bytes = max_bytes
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
            verify=system_tls() if verify is True else verify,
            limits=httpx.Limits(max_keepalive_connections=0),
            headers={"User-Agent": USER_AGENT},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        max_bytes: int | None = None,
    ) -> OutboundResponse:
        """One request to ``url`` by the rules above; ``OutboundRefused`` when the policy
        refuses an address, ``OutboundFailed`` when no answer (or one too large) came."""
        try:
            target = httpx.URL(url)
        except (httpx.InvalidURL, ValueError) as exc:
            raise OutboundRefused("not a valid URL") from exc
        if target.scheme not in ("http", "https") or not target.host:
            raise OutboundRefused("only absolute http and https URLs are fetched")
        port = target.port or (443 if target.scheme == "https" else 80)
        try:
            async with asyncio.timeout(self.timeout):
                addresses = await resolve(target.host, port)
        except TimeoutError as exc:
            raise OutboundFailed(f"{target.host} did not resolve in time") from exc
        self.policy.check(target.host, addresses)
        limit = self.max_bytes if max_bytes is None else max_bytes
        try:
            async with asyncio.timeout(self.timeout * 2):
                return await self._first_answer(method, target, addresses, headers, content, limit)
        except TimeoutError as exc:
            raise OutboundFailed(f"{target.host} did not answer in time") from exc

    async def _first_answer(
        self,
        method: str,
        target: httpx.URL,
        addresses: list[IPAddress],
        headers: Mapping[str, str] | None,
        content: bytes | None,
        limit: int,
    ) -> OutboundResponse:
        failure: Exception | None = None
        for address in addresses:
            request = self._http.build_request(
                method,
                target.copy_with(host=str(address)),
                headers={**(headers or {}), "Host": target.netloc.decode("ascii")},
                content=content,
                extensions={"sni_hostname": target.host},
            )
            try:
                return await self._send(request, target.host, limit)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = exc  # the next address, as a browser would
            except httpx.HTTPError as exc:
                raise OutboundFailed(f"{target.host}: {type(exc).__name__}") from exc
        reason = f" ({str(failure)[:200]})" if failure is not None and str(failure) else ""
        raise OutboundFailed(f"could not connect to {target.host}{reason}") from failure

    async def _send(self, request: httpx.Request, host: str, limit: int) -> OutboundResponse:
        response = await self._http.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared is not None and declared.isdigit() and int(declared) > limit:
                raise OutboundFailed(f"{host} answered more than {limit} bytes")
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > limit:
                    raise OutboundFailed(f"{host} answered more than {limit} bytes")
        finally:
            await response.aclose()
        return OutboundResponse(response.status_code, response.headers, bytes(body))

    async def get_json(self, url: str, *, max_bytes: int | None = None) -> Any:
        """``GET url``, which must answer 200 with a JSON body; else ``OutboundFailed``
        (a redirect included: it is not followed)."""
        response = await self.request(
            "GET", url, headers={"Accept": "application/json"}, max_bytes=max_bytes
        )
        if response.status != 200:
            hint = " (redirects are not followed)" if 300 <= response.status < 400 else ""
            raise OutboundFailed(f"the URL answered {response.status}{hint}")
        try:
            return json.loads(response.content)
        except (ValueError, UnicodeDecodeError) as exc:
            raise OutboundFailed("the URL's answer is not JSON") from exc
