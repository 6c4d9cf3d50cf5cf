"""The admin console at ``/admin/``: a page of plain ES modules that signs an administrator
in with the auth API and drives the users API from the browser (docs/console.md). Served
by ``tessera_users.pages``.

The service only hands out the files; every action the page takes is an API call with the
administrator's Bearer token, checked like any other client's.
"""

__all__: list[str] = []
