"""Tessera auth service."""
