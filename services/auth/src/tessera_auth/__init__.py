"""Tessera auth service."""

__all__: list[str] = []
