"""Tessera shared core: settings, database, tokens, revocation, errors, health, metrics, logging, CLI."""
