"""The ``tessera-dev`` command (what ``make dev`` runs). A command of its own, not a
subcommand of ``tessera``: the ``tessera`` CLI ships in the images, and this one must not.

Example:
    $ tessera-dev
    $ TESSERA_DEV_GATEWAY=python TESSERA_DEV_REDIS=valkey tessera-dev
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from tessera_devstack.config import ENVIRONMENT_HELP, DevConfig
from tessera_devstack.launcher import DevStack

__all__ = ["build_parser", "main", "run_dev"]


def run_dev() -> int:
    """Start the dev stack and block until Ctrl-C. Refuses to run where ``TESSERA_ENV``
    names another environment, since the dev stack generates keys, an admin and default
    secrets."""

    def out(message: str) -> None:
        print(message, flush=True)

    env = os.environ.get("TESSERA_ENV", "dev")
    if env != "dev":
        print(
            f"refusing to run: TESSERA_ENV={env}. `tessera-dev` starts embedded backends "
            "with development secrets; unset TESSERA_ENV or set it to dev.",
            file=sys.stderr,
        )
        return 2
    return DevStack(DevConfig.from_env(), out=out).run()


def build_parser() -> argparse.ArgumentParser:
    return argparse.ArgumentParser(
        prog="tessera-dev",
        description="The whole Tessera platform on embedded backends: gateway :8000, "
        "auth :8001, users :8002, state in .dev/. Ctrl-C stops everything.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    build_parser().parse_args(argv)
    return run_dev()


if __name__ == "__main__":
    raise SystemExit(main())
