"""What the limits count a client address as (``tessera_core.accounts.throttle.client_key``)."""

from __future__ import annotations

import pytest

from tessera_core.accounts.throttle import client_key


class TestClientKey:
    @pytest.mark.parametrize(
        ("address", "key"),
        [
            ("203.0.113.7", "203.0.113.7"),
            ("2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"),
            ("2001:DB8:1:2::1", "2001:db8:1:2::/64"),
            ("::ffff:203.0.113.7", "203.0.113.7"),
            ("fe80::1%eth0", "fe80::/64"),
            ("testclient", "testclient"),
            (None, None),
            ("", None),
        ],
    )
    def test_keys(self, address, key):
        assert client_key(address) == key

    def test_the_prefix(self):
        assert client_key("2001:db8:1:2:aaaa::1", 48) == "2001:db8:1::/48"
        assert client_key("2001:db8:1:2:aaaa::1", 128) == "2001:db8:1:2:aaaa::1/128"
