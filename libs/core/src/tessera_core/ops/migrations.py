"""The one Alembic history, applied from code: ``tessera migrate``, ``tessera-dev`` (make dev), the
test fixtures and the benchmark all call ``migrate``."""

from __future__ import annotations

import os
from pathlib import Path

from tessera_core.settings import Settings

__all__ = ["find_migrations_dir", "migrate"]


def find_migrations_dir() -> Path:
    """``TESSERA_MIGRATIONS_DIR``, else ``migrations/`` in the working directory or above it,
    else the one beside this checkout (editable installs)."""
    configured = os.environ.get("TESSERA_MIGRATIONS_DIR")
    if configured:
        return Path(configured)
    candidates = [Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents]
    for base in candidates:
        if (base / "migrations" / "env.py").is_file():
            return base / "migrations"
    raise SystemExit("cannot find the migrations directory; set TESSERA_MIGRATIONS_DIR")


def migrate(database_url: str | None = None, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (idempotent; safe to run from several places)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(find_migrations_dir()))
    config.attributes["database_url"] = database_url or Settings().database_url.get_secret_value()
    command.upgrade(config, revision)
