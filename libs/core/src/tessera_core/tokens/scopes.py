"""The scopes an access token may carry (RFC 9068 §2.2.3 ``scope``, RFC 6749 §3.3 syntax),
and which ones each role may hold.

========================  ==========================================================
``profile:read``          read one's own account: profile, sessions, second factors
``profile:write``         change one's own account: profile, password, second factors
``sessions:write``        end one's own sessions (logout-all, logout-others, one session)
``users:read``            read other accounts: the admin listing, their sessions, factors
``users:write``           change other accounts: deactivate, edit, end their sessions
========================  ==========================================================

Every user may hold the ``profile:*`` and ``sessions:*`` scopes; only an admin holds the
``users:*`` ones. There is no scope named ``admin``: every admin row reads or changes
another account, which ``users:read`` and ``users:write`` already say, and only admins
hold those; a scope spelt like the role would only invite confusing the two.

A token without a ``scope`` claim (minted before scopes existed) holds what its ``roles``
allow, as it did then (``effective_scopes``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

__all__ = [
    "ADMIN_SCOPES",
    "PROFILE_READ",
    "PROFILE_WRITE",
    "SCOPES",
    "SERVICE_SCOPES",
    "SESSIONS_WRITE",
    "USERS_READ",
    "USERS_WRITE",
    "USER_SCOPES",
    "delegated",
    "effective_scopes",
    "format_scope",
    "narrowed",
    "parse_scope",
    "scopes_of_roles",
]

PROFILE_READ = "profile:read"
PROFILE_WRITE = "profile:write"
SESSIONS_WRITE = "sessions:write"
USERS_READ = "users:read"
USERS_WRITE = "users:write"

# The vocabulary, in the order tokens and documents list it.
SCOPES: dict[str, str] = {
    PROFILE_READ: "Read your own account: profile, sessions, second factors",
    PROFILE_WRITE: "Change your own account: profile, password, second factors",
    SESSIONS_WRITE: "End your own sessions",
    USERS_READ: "Read other accounts (administrators)",
    USERS_WRITE: "Change other accounts (administrators)",
}
USER_SCOPES = frozenset({PROFILE_READ, PROFILE_WRITE, SESSIONS_WRITE})
ADMIN_SCOPES = USER_SCOPES | {USERS_READ, USERS_WRITE}
# A service account acts on other accounts only: none of a person's own rows is its.
SERVICE_SCOPES = frozenset({USERS_READ, USERS_WRITE})
_ORDER = {name: index for index, name in enumerate(SCOPES)}


def scopes_of_roles(roles: Collection[str]) -> frozenset[str]:
    """Every scope a principal with ``roles`` may hold.

    Example:
        >>> sorted(scopes_of_roles([]))
        ['profile:read', 'profile:write', 'sessions:write']
    """
    if "admin" in roles:
        return ADMIN_SCOPES
    return SERVICE_SCOPES if "service" in roles else USER_SCOPES


def parse_scope(value: str) -> frozenset[str]:
    """The scopes of an RFC 6749 §3.3 ``scope`` string (space-separated, any order);
    ``ValueError`` if it names a scope outside the vocabulary or is empty.

    Example:
        >>> sorted(parse_scope("users:read profile:read"))
        ['profile:read', 'users:read']
    """
    names = frozenset(value.split(" ")) - {""}
    if not names:
        raise ValueError("the scope is empty")
    unknown = names - SCOPES.keys()
    if unknown:
        raise ValueError(f"unknown scope: {' '.join(sorted(unknown))}")
    return names


def format_scope(scopes: Iterable[str]) -> str:
    """The ``scope`` string of ``scopes``, in the vocabulary's order.

    Example:
        >>> format_scope({"users:read", "profile:read"})
        'profile:read users:read'
    """
    return " ".join(sorted(scopes, key=lambda name: _ORDER.get(name, len(_ORDER))))


def narrowed(requested: str | None, allowed: frozenset[str]) -> frozenset[str] | None:
    """What a grant asked for ``requested`` gives a principal that may hold ``allowed``:
    everything when nothing was asked for, the request when it is within ``allowed``,
    ``None`` (RFC 6749 ``invalid_scope``) when it is malformed, unknown or wider.

    Example:
        >>> sorted(narrowed("profile:read", scopes_of_roles([])))
        ['profile:read']
        >>> narrowed("users:read", scopes_of_roles([])) is None
        True
    """
    if requested is None or not requested.strip(" "):
        return allowed
    try:
        names = parse_scope(requested)
    except ValueError:
        return None
    return names if names <= allowed else None


def delegated(
    requested: str, held: frozenset[str], *, to: str, within: frozenset[str] | None = None
) -> frozenset[str]:
    """The scopes of a credential that a token holding ``held`` creates, asked for as
    ``requested``: named in the vocabulary, within ``within`` (what ``to``, the kind of
    credential, may ever hold) when given, and each held by the creating token, so a
    narrowed token cannot mint a wider credential. ``ValueError`` says which rule failed,
    in words for the client.

    Example:
        >>> sorted(delegated("profile:read", USER_SCOPES, to="a personal access token"))
        ['profile:read']
    """
    scopes = parse_scope(requested)
    if within is not None and not scopes <= within:
        raise ValueError(f"{to[0].upper()}{to[1:]} holds only {format_scope(within)}")
    wider = scopes - held
    if wider:
        raise ValueError(
            f"This token cannot grant {format_scope(wider)}: {to} holds only scopes "
            "the token that creates it holds"
        )
    return scopes


def effective_scopes(scope: str | None, roles: Collection[str]) -> frozenset[str]:
    """What a verified token may do: its ``scope`` claim within what its roles allow
    today's vocabulary to mean, or, for a token minted before scopes (no claim), all of it.
    A scope outside the vocabulary is ignored: it grants nothing here."""
    allowed = scopes_of_roles(roles)
    if scope is None:
        return allowed
    return frozenset(scope.split(" ")) & allowed
