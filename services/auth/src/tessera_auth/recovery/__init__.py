"""Password reset and email verification by mailed single-use links."""
