"""``python -m tessera_devstack``: the same as ``tessera-dev``."""

from tessera_devstack.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
