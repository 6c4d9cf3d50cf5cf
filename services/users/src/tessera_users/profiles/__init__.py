"""Profiles: the caller's own profile, and one user by id (the user themselves, or an admin)."""

__all__: list[str] = []
