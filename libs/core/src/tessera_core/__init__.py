"""Tessera shared core: settings, database, tokens, revocation, errors, probes, metrics, CLI."""
