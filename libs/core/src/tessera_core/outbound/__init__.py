"""Requests the server makes to URLs that clients or administrators register (a service
account's ``jwks_uri``; later webhooks): the rules of where they may go (``rules``, pure),
the one client that makes them (``client``), and a per-process cache of what they
answered (``cache``)."""

from tessera_core.outbound.cache import FetchedCache, FetchUnavailable
from tessera_core.outbound.client import (
    DEFAULT_MAX_BYTES,
    DEFAULT_TIMEOUT_SECONDS,
    OutboundClient,
    OutboundError,
    OutboundFailed,
    OutboundResponse,
    system_tls,
)
from tessera_core.outbound.rules import (
    OutboundPolicy,
    OutboundRefused,
    address_refusal,
    url_refusal,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DEFAULT_TIMEOUT_SECONDS",
    "FetchUnavailable",
    "FetchedCache",
    "OutboundClient",
    "OutboundError",
    "OutboundFailed",
    "OutboundPolicy",
    "OutboundRefused",
    "OutboundResponse",
    "address_refusal",
    "system_tls",
    "url_refusal",
]
