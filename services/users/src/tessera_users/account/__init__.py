"""The account page at ``/account/``: a page of plain ES modules where anyone with an
account signs in and manages it (profile, password, sessions, second factors) through the
public API (docs/account.md). Served by ``tessera_users.pages``."""

__all__: list[str] = []
