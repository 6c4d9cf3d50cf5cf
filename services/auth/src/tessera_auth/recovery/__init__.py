"""Password reset and email verification by mailed single-use links."""

__all__: list[str] = []
