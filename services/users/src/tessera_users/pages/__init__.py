"""The browser pages the users service serves, the admin console (``/admin/``) and the
account page (``/account/``), and the ES modules they share (docs/console.md,
docs/account.md).

The service only hands out the files; every action a page takes is an API call with the
signed-in user's Bearer token, checked like any other client's.
"""

__all__: list[str] = []
