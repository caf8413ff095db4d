"""deploy/compose.yaml: valid YAML whose services, commands and settings fit the code.

No container engine runs here, so the file is checked, not started: the four services, an image
built from the project, commands the ``vanplan`` CLI accepts, and an environment that the one
settings object reads without error and that selects the Celery runner.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from api.cli import _parser
from api.settings import Settings, variables

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def test_compose_starts_api_workers_postgres_and_redis(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert set(services) == {"api", "worker", "postgres", "redis"}
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    build = services["api"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).resolve().is_file()
    assert services["worker"]["image"] == services["api"]["image"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    for name, service in services.items():
        for needed in service.get("depends_on", {}):
            assert needed in services, f"{name} depends on unknown service {needed}"
    for volume in ("pgdata", "redisdata"):
        assert volume in compose["volumes"]


@pytest.mark.parametrize(("service", "command"), [("api", "serve"), ("worker", "worker")])
def test_compose_commands_are_vanplan_commands(
    compose: dict[str, Any], service: str, command: str
) -> None:
    argv = compose["services"][service]["command"]
    assert argv[0] == "vanplan"
    args = _parser().parse_args(argv[1:])
    assert args.command == command


@pytest.mark.parametrize("service", ["api", "worker"])
def test_compose_environment_is_valid_settings_for_the_celery_runner(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    env: dict[str, str] = compose["services"][service]["environment"]
    unknown = set(env) - set(variables())
    assert not unknown, f"variables the settings do not read: {sorted(unknown)}"
    for name, value in env.items():
        monkeypatch.setenv(name, str(value))
    settings = Settings()
    assert settings.job_runner == "celery"
    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.redis_url == "redis://redis:6379/0"
    postgres = compose["services"]["postgres"]["environment"]
    assert f"{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}@postgres:5432/" in (
        settings.database_url
    )
