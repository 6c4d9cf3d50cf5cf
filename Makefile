# Tessera: every target runs inside the uv workspace (.venv), created on first use.
UV ?= uv
RUN = $(UV) run --frozen
PYTEST_ARGS ?=
# pytest-xdist workers for `make test` (each with its own database, Redis database and
# ports, and its own e2e stack and kube-apiservers when it runs their tests).
# PYTEST_ARGS="-n 0" runs serially. Each run has a
# temporary folder of its own: pytest prunes all but the newest three under
# /tmp/pytest-of-$USER, which deleted a running suite's files when another ran beside it.
# Three on the two-core CI machine: many tests wait (on services they start, on sleeps,
# on browsers), and a third worker fills that time: 435 s with 3 against 457-488 s with 2,
# CPU idle 2% (docs/architecture.md, "Tests").
PYTEST_WORKERS ?= 3
# Python caches compiled modules (__pycache__) unless told not to; a machine that sets
# PYTHONDONTWRITEBYTECODE makes every process (each service, CLI and fuzzer a test starts)
# compile FastAPI, SQLAlchemy, pydantic and ours from source again: ~3 s of CPU per start.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: dev test test-unit test-integration test-e2e test-chart lint fmt typecheck migrate keys bench bench-quick up down sync

sync:
	$(UV) sync --frozen --all-packages --all-groups

dev: sync ## the whole platform on embedded backends: gateway :8000, auth :8001, users :8002
	$(RUN) tessera-dev

test: sync ## every test layer: unit, integration, e2e, chart, in parallel
	$(RUN) pytest -n $(PYTEST_WORKERS) --dist worksteal --basetemp="$$(mktemp -d -t tessera-pytest-XXXXXX)" $(PYTEST_ARGS)

test-unit: sync
	$(RUN) pytest tests/unit $(PYTEST_ARGS)

test-integration: sync
	$(RUN) pytest tests/integration $(PYTEST_ARGS)

test-e2e: sync
	$(RUN) pytest tests/e2e $(PYTEST_ARGS)

test-chart: sync
	$(RUN) pytest tests/chart $(PYTEST_ARGS)

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy

typecheck: sync
	$(RUN) mypy

fmt: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

migrate: sync ## apply migrations to TESSERA_DATABASE_URL
	$(RUN) tessera migrate

keys: sync ## generate a signing key into TESSERA_KEYS_DIR (default .dev/keys)
	$(RUN) tessera keys --dir $${TESSERA_KEYS_DIR:-.dev/keys}

bench: sync ## speed and memory, as ratios against a baseline measured in the same run
	$(RUN) python -m bench --json bench-results.json

bench-quick: sync ## the same harness in under a minute (no thresholds)
	$(RUN) python -m bench --quick

up: ## docker compose stack (needs a Docker engine)
	docker compose up -d --wait

down:
	docker compose down
