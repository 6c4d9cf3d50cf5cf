"""Second factors: TOTP (RFC 6238) and single-use recovery codes, and the login step
that asks for one."""

__all__: list[str] = []
