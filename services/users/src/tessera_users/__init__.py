"""Tessera users service."""

__all__: list[str] = []
