"""docker-compose.yml, the Dockerfiles and .env.sample, checked without Docker; and the
commands compose runs, run for real against the e2e stack."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml

from tessera_core.cli import CLI_ENVIRONMENT
from tessera_core.settings import Settings
from tessera_devstack.gateway import template_placeholders
from tests.e2e.stack import (
    GATEWAY_TEMPLATE,
    PROMETHEUS_CONFIG,
    ROOT,
    Stack,
    base_env,
    compose,
    healthcheck_command,
    require_binary,
)

pytestmark = pytest.mark.e2e

SCHEMA = Path(__file__).resolve().parents[1] / "fixtures" / "compose_spec.json"
ENV_SAMPLE = ROOT / ".env.sample"
INTERPOLATION = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)")
SAMPLE_LINE = re.compile(r"^#?\s*([A-Z][A-Z0-9_]*)=", re.MULTILINE)


def sample_names() -> set[str]:
    return set(SAMPLE_LINE.findall(ENV_SAMPLE.read_text()))


def dockerfile(service: str) -> str:
    return (ROOT / "services" / service / "Dockerfile").read_text()


def dockerfile_healthcheck(service: str) -> list[str]:
    text = dockerfile(service).replace("\\\n", " ")
    match = re.search(r"^HEALTHCHECK .*?CMD (\[.*\])\s*$", text, re.MULTILINE)
    assert match, "no HEALTHCHECK CMD [...]"
    command: list[str] = json.loads(match.group(1))
    return command


class TestComposeFile:
    def test_validates_against_the_compose_spec(self):
        schema = json.loads(SCHEMA.read_text())
        # The file names draft 2019-09 ("draft/2019-09/schema#", a spelling jsonschema does
        # not map), so pick that validator explicitly.
        assert "2019-09" in schema["$schema"]
        validator = jsonschema.Draft201909Validator(schema)
        errors = sorted(validator.iter_errors(compose()), key=lambda e: list(e.path))
        assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)

    def test_every_interpolated_variable_is_in_env_sample(self):
        used = set(INTERPOLATION.findall((ROOT / "docker-compose.yml").read_text()))
        assert used, "compose interpolates nothing?"
        assert used <= sample_names(), f"missing from .env.sample: {used - sample_names()}"

    def test_the_stack_is_wired_as_designed(self):
        services = compose()["services"]
        assert services["postgres"]["image"] == "postgres:15"
        assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
        assert services["redis"]["image"] == "redis:7"
        assert "--appendonly" in services["redis"]["command"]
        assert services["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
        assert services["migrate"]["command"] == ["migrate"]
        for app in ("auth", "users"):
            depends = services[app]["depends_on"]
            assert depends["migrate"] == {"condition": "service_completed_successfully"}
            assert depends["postgres"] == {"condition": "service_healthy"}
            assert depends["redis"] == {"condition": "service_healthy"}
            assert services[app]["read_only"] is True
            assert services[app]["healthcheck"]["test"][1:] == dockerfile_healthcheck(app)
        assert services["auth"]["depends_on"]["keys"] == {
            "condition": "service_completed_successfully"
        }
        assert services["gateway"]["image"].startswith("nginx:1.27")
        assert "./deploy/gateway:/etc/nginx/templates:ro" in services["gateway"]["volumes"]
        assert "./deploy/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
        assert services["prometheus"]["profiles"] == ["observability"]
        assert set(compose()["volumes"]) >= {"postgres_data", "redis_data", "keys"}

    def test_mail_goes_to_mailpit_by_default(self):
        services = compose()["services"]
        assert services["mailpit"]["image"].startswith("axllent/mailpit:")
        assert "profiles" not in services["mailpit"]  # in the default profile
        assert "127.0.0.1:8025:8025" in services["mailpit"]["ports"]
        auth = services["auth"]["environment"]
        assert auth["TESSERA_SMTP_HOST"] == "${TESSERA_SMTP_HOST:-mailpit}"
        assert auth["TESSERA_SMTP_PORT"] == "${TESSERA_SMTP_PORT:-1025}"
        # Auth must not wait for the relay: mail waits in the outbox.
        assert "mailpit" not in services["auth"]["depends_on"]

    def test_only_the_gateway_may_state_the_client_address(self):
        services = compose()["services"]
        gateway_address = services["gateway"]["networks"]["default"]["ipv4_address"]
        for app in ("auth", "users"):
            assert services[app]["environment"]["TESSERA_FORWARDED_ALLOW_IPS"] == gateway_address

    def test_gateway_environment_fills_every_template_placeholder(self):
        placeholders = template_placeholders(GATEWAY_TEMPLATE.read_text())
        assert placeholders == {"GATEWAY_LISTEN", "AUTH_UPSTREAM", "USERS_UPSTREAM"}
        assert placeholders <= set(compose()["services"]["gateway"]["environment"])

    def test_prometheus_config_is_valid_for_compose_targets(self):
        promtool = require_binary("promtool")
        result = subprocess.run(
            [promtool, "check", "config", str(PROMETHEUS_CONFIG)],
            capture_output=True,
            text=True,
            cwd=PROMETHEUS_CONFIG.parent,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        jobs = {
            job["job_name"]
            for job in yaml.safe_load(PROMETHEUS_CONFIG.read_text())["scrape_configs"]
        }
        assert jobs == {"auth", "users"}


class TestDockerfiles:
    @pytest.mark.parametrize("service", ["auth", "users"])
    def test_production_image_shape(self, service: str):
        text = dockerfile(service)
        assert text.count("\nFROM ") >= 2, "multi-stage"
        assert "ARG PYTHON_IMAGE=python:3.12-slim" in text
        deps = text.index(
            f"uv sync --frozen --no-dev --no-install-workspace --package tessera-{service}"
        )
        assert deps < text.index("COPY libs/core libs/core"), "dependency layer first"
        assert "USER 10001:10001" in text
        assert f'ENTRYPOINT ["tessera"]\nCMD ["serve", "{service}"]' in text
        assert "curl" not in text.split("HEALTHCHECK", 1)[1]

    def test_auth_image_carries_migrations(self):
        text = dockerfile("auth")
        assert "COPY migrations /app/migrations" in text
        assert "COPY alembic.ini /app/alembic.ini" in text
        assert "TESSERA_MIGRATIONS_DIR=/app/migrations" in text

    def test_dockerignore_keeps_secrets_and_state_out(self):
        ignored = (ROOT / ".dockerignore").read_text().split()
        assert {".git", ".dev", ".env", "**/.venv", "**/*.pem"} <= set(ignored)

    @pytest.mark.parametrize("service", ["auth", "users"])
    def test_images_carry_no_dev_tooling(self, service: str):
        copied = re.findall(r"^COPY (?!--from)(.+)$", dockerfile(service), re.MULTILINE)
        assert "libs/core libs/core" in copied
        assert [line for line in copied if "tools" in line] == []
        assert "tools" in (ROOT / ".dockerignore").read_text().split()


class TestEnvSample:
    def test_lists_every_setting_and_cli_variable(self):
        wanted = {f"TESSERA_{name.upper()}" for name in Settings.model_fields} | CLI_ENVIRONMENT
        assert wanted <= sample_names(), f"missing: {sorted(wanted - sample_names())}"

    def test_every_variable_has_a_comment(self):
        lines = ENV_SAMPLE.read_text().splitlines()
        for index, line in enumerate(lines):
            if SAMPLE_LINE.match(line):
                above = lines[index - 1]
                assert above.startswith("#"), f"no comment above {line!r}"

    def test_the_readme_settings_table_agrees(self):
        """README's table is made from this file: the same variables, the same defaults."""
        sample = {
            name: value
            for name, value in re.findall(
                r"^#?\s*([A-Z][A-Z0-9_]*)=(.*)$", ENV_SAMPLE.read_text(), re.MULTILINE
            )
        }
        readme = {
            name: value
            for name, value in re.findall(
                r"^\| `([A-Z][A-Z0-9_]*)` \| `?([^|`]*)`? \|",
                (ROOT / "README.md").read_text(),
                re.MULTILINE,
            )
        }
        assert readme == {name: value.strip() for name, value in sample.items()}

    def test_active_values_load(self, monkeypatch: pytest.MonkeyPatch):
        for line in ENV_SAMPLE.read_text().splitlines():
            if line and not line.startswith("#") and line.startswith("TESSERA_"):
                name, _, value = line.partition("=")
                monkeypatch.setenv(name, value)
        Settings()


class TestComposeCommandsRunForReal:
    @pytest.mark.parametrize("service", ["auth", "users"])
    def test_healthcheck_passes_against_the_running_service(self, stack: Stack, service: str):
        running = stack.auth if service == "auth" else stack.users
        env = {**base_env(), "TESSERA_PORT": str(running.port)}
        result = subprocess.run(
            healthcheck_command(service), env=env, capture_output=True, timeout=10
        )
        assert result.returncode == 0, result.stderr

    def test_healthcheck_fails_when_nothing_listens(self):
        from tests.fixtures.servers import free_port

        env = {**base_env(), "TESSERA_PORT": str(free_port())}
        result = subprocess.run(
            healthcheck_command("auth"), env=env, capture_output=True, timeout=10
        )
        assert result.returncode != 0
