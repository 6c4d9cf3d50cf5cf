from __future__ import annotations

import pytest

from tessera_users.cursor import CursorCodec, InvalidCursor

CODEC = CursorCodec(b"k" * 32)
DATA = {
    "o": "-date_joined",
    "k": ["2026-11-26T12:00:00+00:00", "6f1c0000-0000-0000-0000-000000000000"],
}


class TestCursorCodec:
    def test_round_trip_is_opaque_url_safe_text(self):
        cursor = CODEC.encode(DATA)
        assert CODEC.decode(cursor) == DATA
        assert set(cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
        )
        assert "date_joined" not in cursor

    def test_another_secret_rejects_it(self):
        with pytest.raises(InvalidCursor, match="altered"):
            CursorCodec(b"x" * 32).decode(CODEC.encode(DATA))

    def test_any_changed_character_is_rejected(self):
        cursor = CODEC.encode(DATA)
        for index in range(0, len(cursor), 7):
            if cursor[index] == ".":
                continue
            flipped = cursor[:index] + ("A" if cursor[index] != "A" else "B") + cursor[index + 1 :]
            with pytest.raises(InvalidCursor):
                CODEC.decode(flipped)

    @pytest.mark.parametrize("cursor", ["", "no-dot", "a.b.c", "!!!.???", "x" * 2000, "e30.AAAA"])
    def test_malformed(self, cursor: str):
        with pytest.raises(InvalidCursor):
            CODEC.decode(cursor)

    def test_valid_mac_over_a_non_object_is_rejected(self):
        import base64

        payload = b"[1,2]"
        encoded = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
        mac = base64.urlsafe_b64encode(CODEC._mac(payload)).rstrip(b"=").decode()
        with pytest.raises(InvalidCursor, match="malformed"):
            CODEC.decode(f"{encoded}.{mac}")
