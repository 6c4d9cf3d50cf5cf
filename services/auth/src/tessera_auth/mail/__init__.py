"""Delivery of the mail outbox over SMTP."""
