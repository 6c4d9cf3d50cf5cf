"""Tessera shared core: settings, database, tokens, revocation, errors, probes, metrics, CLI."""

__all__: list[str] = []
