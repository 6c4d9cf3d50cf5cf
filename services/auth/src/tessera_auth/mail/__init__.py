"""Delivery of the mail outbox over SMTP."""

__all__: list[str] = []
