"""Tessera users service."""
