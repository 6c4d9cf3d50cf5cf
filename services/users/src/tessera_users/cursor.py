"""Opaque, tamper-evident pagination cursors.

A cursor is ``base64url(json) "." base64url(HMAC-SHA256(secret, json)[:16])``. The JSON
holds the ordering and the sort key of the last row served; the MAC means a client can
neither forge a position nor smuggle values into the query, and any change to a cursor is
rejected before its content is read.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Any

from tessera_core.errors import TesseraError

__all__ = ["CursorCodec", "InvalidCursor"]


class InvalidCursor(TesseraError):
    """A cursor that this service did not issue, was altered, or belongs to another
    ordering: a validation failure, never a 500."""

    status = 422
    code = "invalid_cursor"
    title = "Invalid cursor"

    def body(self) -> dict[str, Any]:
        return {**super().body(), "errors": [{"field": "cursor", "message": self.detail}]}


MAC_BYTES = 16
MAX_CURSOR_CHARS = 1024


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class CursorCodec:
    """Sign and check cursors with one secret.

    Example:
        >>> codec = CursorCodec(b"k" * 32)
        >>> codec.decode(codec.encode({"o": "username", "k": ["alice"]}))
        {'o': 'username', 'k': ['alice']}
    """

    def __init__(self, secret: bytes) -> None:
        self._secret = secret

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._secret, payload, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, data: dict[str, Any]) -> str:
        payload = json.dumps(data, separators=(",", ":"), sort_keys=True).encode()
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def decode(self, cursor: str) -> dict[str, Any]:
        """The cursor's content; ``InvalidCursor`` if it is malformed or was altered."""
        if len(cursor) > MAX_CURSOR_CHARS or cursor.count(".") != 1:
            raise InvalidCursor("The cursor is malformed.")
        encoded_payload, encoded_mac = cursor.split(".")
        try:
            payload, mac = _b64decode(encoded_payload), _b64decode(encoded_mac)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCursor("The cursor is malformed.") from exc
        if not hmac.compare_digest(mac, self._mac(payload)):
            raise InvalidCursor("The cursor was not issued by this service or was altered.")
        try:
            data = json.loads(payload)
        except ValueError as exc:
            raise InvalidCursor("The cursor is malformed.") from exc
        if not isinstance(data, dict):
            raise InvalidCursor("The cursor is malformed.")
        return data
