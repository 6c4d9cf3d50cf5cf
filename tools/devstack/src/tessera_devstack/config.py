"""What the dev stack reads from its environment, and the admin it bootstraps."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from tessera_devstack.network import free_port

__all__ = ["ENVIRONMENT_HELP", "AdminCredentials", "DevConfig", "admin_credentials"]

ENVIRONMENT_HELP = """\
environment (all optional):
  TESSERA_DEV_DIR               state directory (default .dev)
  TESSERA_DEV_GATEWAY_PORT      gateway port (default 8000)
  TESSERA_DEV_AUTH_PORT         auth port (default 8001)
  TESSERA_DEV_USERS_PORT        users port (default 8002)
  TESSERA_DEV_REDIS_PORT        Redis port (default: a free one)
  TESSERA_DEV_SMTP_PORT         SMTP catcher port (default: a free one)
  TESSERA_DEV_GATEWAY           auto (default), nginx or python
  TESSERA_DEV_REDIS             auto (default), redis-server, valkey or fakeredis
  TESSERA_BOOTSTRAP_ADMIN_*     the admin to create (default: generated, kept in
                                .dev/admin.txt)
  TESSERA_DEPLOY_DIR            where deploy/ is, if not found from the working directory
"""


def _env_port(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


@dataclass
class DevConfig:
    root: Path
    gateway_port: int
    auth_port: int
    users_port: int
    redis_port: int
    gateway: str
    redis: str = "auto"
    smtp_port: int = 0

    @classmethod
    def from_env(cls) -> DevConfig:
        return cls(
            root=Path(os.environ.get("TESSERA_DEV_DIR", ".dev")).resolve(),
            gateway_port=_env_port("TESSERA_DEV_GATEWAY_PORT", 8000),
            auth_port=_env_port("TESSERA_DEV_AUTH_PORT", 8001),
            users_port=_env_port("TESSERA_DEV_USERS_PORT", 8002),
            redis_port=_env_port("TESSERA_DEV_REDIS_PORT", 0) or free_port(),
            gateway=os.environ.get("TESSERA_DEV_GATEWAY", "auto"),
            redis=os.environ.get("TESSERA_DEV_REDIS", "auto"),
            smtp_port=_env_port("TESSERA_DEV_SMTP_PORT", 0) or free_port(),
        )


@dataclass
class AdminCredentials:
    username: str
    email: str
    password: str
    generated: bool


def admin_credentials(root: Path) -> AdminCredentials:
    """From ``TESSERA_BOOTSTRAP_ADMIN_*``, else ``.dev/admin.txt``, else newly generated."""
    username = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_USERNAME")
    password = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD")
    password_file = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_PASSWORD_FILE")
    if password is None and password_file:
        password = Path(password_file).read_text().rstrip("\r\n")
    if username and password:
        email = os.environ.get("TESSERA_BOOTSTRAP_ADMIN_EMAIL", f"{username}@example.com")
        return AdminCredentials(username, email, password, generated=False)
    stored = root / "admin.txt"
    if stored.is_file():
        fields = dict(line.split("=", 1) for line in stored.read_text().splitlines() if "=" in line)
        return AdminCredentials(fields["username"], fields["email"], fields["password"], False)
    creds = AdminCredentials("admin", "admin@example.com", secrets.token_urlsafe(15), True)
    stored.write_text(
        "# The dev admin, created on the first `make dev`; delete .dev/ to start over.\n"
        f"username={creds.username}\nemail={creds.email}\npassword={creds.password}\n"
    )
    stored.chmod(0o600)
    return creds
