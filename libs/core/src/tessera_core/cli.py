"""The ``tessera`` command: migrate, keys, create-admin, serve. (``make dev`` is
``tessera-dev``, from the dev-only ``tessera-devstack`` package.)

Example:
    $ tessera migrate
    $ tessera keys --dir .keys --alg ES256
    $ tessera create-admin --username admin --email admin@example.com
    $ tessera serve auth --port 8001 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tessera_core.ops.migrations import migrate
from tessera_core.settings import Settings, SettingsError

__all__ = [
    "CLI_ENVIRONMENT",
    "SERVICES",
    "build_parser",
    "main",
]

SERVICES = {
    "auth": ("tessera_auth.app:create_app", 8001),
    "users": ("tessera_users.app:create_app", 8002),
}
# Process settings the CLI reads itself (`serve`, `migrate`), beside the Settings fields.
CLI_ENVIRONMENT = frozenset(
    {
        "TESSERA_PORT",
        "TESSERA_WORKERS",
        "TESSERA_HOST",
        "TESSERA_SHUTDOWN_DELAY_SECONDS",
        "TESSERA_GRACEFUL_TIMEOUT_SECONDS",
        "TESSERA_FORWARDED_ALLOW_IPS",
        "TESSERA_MIGRATIONS_DIR",
    }
)


def _cmd_migrate(args: argparse.Namespace) -> int:
    migrate(revision=args.revision)
    print(f"database migrated to {args.revision}")
    return 0


def _cmd_keys(args: argparse.Namespace) -> int:
    from tessera_core.tokens.keygen import write_private_key

    settings = Settings()
    directory = Path(args.dir) if args.dir else settings.keys_dir
    if directory is None:
        raise SystemExit("name the key directory: --dir DIR or TESSERA_KEYS_DIR")
    path = write_private_key(directory, args.alg or settings.signing_algorithm, kid=args.kid)
    print(
        f"wrote {path} (kid {path.stem}); it becomes active unless TESSERA_ACTIVE_KID pins another"
    )
    return 0


def _read_admin_password(args: argparse.Namespace) -> str:
    if args.password_file:
        return Path(args.password_file).read_text().rstrip("\r\n")
    from_env = os.environ.get("TESSERA_ADMIN_PASSWORD")
    if from_env:
        return from_env
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Password (again): "):
        raise SystemExit("the passwords do not match")
    return first


def _cmd_create_admin(args: argparse.Namespace) -> int:
    from tessera_core.accounts.admins import AdminCreation, ensure_admin

    password = _read_admin_password(args)
    settings = Settings()
    try:
        outcome = asyncio.run(
            ensure_admin(settings, username=args.username, email=args.email, password=password)
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    messages = {
        AdminCreation.CREATED: f"created admin {args.username}",
        AdminCreation.PROMOTED: f"{args.username} already existed; it is now an admin",
        AdminCreation.UNCHANGED: f"admin {args.username} already exists; nothing changed",
    }
    print(messages[outcome])
    return 0


def _cmd_serve(args: argparse.Namespace) -> int:
    from tessera_core.ops.serve import serve

    factory, default_port = SERVICES[args.service]
    return serve(
        factory,
        host=args.host,
        port=args.port or default_port,
        workers=args.workers,
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tessera", description="Tessera identity platform")
    commands = parser.add_subparsers(dest="command", required=True)

    p = commands.add_parser("migrate", help="apply database migrations (alembic upgrade)")
    p.add_argument("--revision", default="head")
    p.set_defaults(handler=_cmd_migrate)

    p = commands.add_parser("keys", help="generate a signing key (PEM) into the key directory")
    p.add_argument("--dir", help="key directory (default TESSERA_KEYS_DIR)")
    p.add_argument("--alg", choices=["RS256", "ES256", "EdDSA"])
    p.add_argument("--kid", help="key id (default: a sortable timestamped id)")
    p.set_defaults(handler=_cmd_keys)

    p = commands.add_parser("create-admin", help="create or promote an admin (idempotent)")
    p.add_argument("--username", required=True)
    p.add_argument("--email", required=True)
    p.add_argument(
        "--password-file",
        help="read the password from this file (else TESSERA_ADMIN_PASSWORD, else a prompt)",
    )
    p.set_defaults(handler=_cmd_create_admin)

    p = commands.add_parser("serve", help="run a service with uvicorn")
    p.add_argument("service", choices=sorted(SERVICES))
    p.add_argument("--host", default=os.environ.get("TESSERA_HOST", "0.0.0.0"))
    p.add_argument("--port", type=int, default=int(os.environ.get("TESSERA_PORT", "0")) or None)
    p.add_argument("--workers", type=int, default=int(os.environ.get("TESSERA_WORKERS", "1")))
    p.set_defaults(handler=_cmd_serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.handler(args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    raise SystemExit(main())
