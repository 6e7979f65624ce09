"""deploy/: the compose file, its env file, the systemd units and docs/deploy.md stay true.

- The compose file is validated against the Compose Specification's JSON schema
  (tests/data/compose/compose-spec.json, vendored) in pure Python, after the same
  `${VAR}` interpolation compose does, so this runs everywhere, CI included, where no
  `docker compose` is installed. Where `docker compose` or `docker-compose` exists, its
  own `config` must accept the file too (otherwise that one test skips with the reason:
  the schema check above is what CI relies on).
- Every `CUSTOS_*` name in deploy/ and docs/deploy.md is a setting of
  `storage.config.Settings`, every Custos service's environment loads as production
  settings, and the important ones are set (database, Redis, S3, time zone, ledger key).
- Secrets left as env.example leaves them stop compose; well-known ones stop Custos.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from storage.config import Settings, check_environment
from storage.ledger_keys import parse_public_key
from tests.needs import unavailable

REPO = Path(__file__).resolve().parents[1]
DEPLOY = REPO / "deploy"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "env.example"
UNITS = sorted((DEPLOY / "systemd").glob("*.service"))
SYSTEMD_ENV = DEPLOY / "systemd" / "custos.env.example"
DOCS = REPO / "docs" / "deploy.md"
SCHEMA = REPO / "tests" / "data" / "compose" / "compose-spec.json"
CUSTOS_SERVICES = ("custos-serve", "custos-worker-cpu", "custos-worker-gpu")
SETTING_NAMES = {f"CUSTOS_{name.upper()}" for name in Settings.model_fields}
NAME = re.compile(r"\bCUSTOS_[A-Z0-9_]+\b")
SECRET_VARS = ("POSTGRES_PASSWORD", "REDIS_PASSWORD", "MINIO_ROOT_PASSWORD",
               "CUSTOS_S3_SECRET_KEY", "CUSTOS_LEDGER_KEY_PASSPHRASE")  # fmt: skip


# --- compose's interpolation ------------------------------------------------------------


class MissingVariable(ValueError):
    pass


_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}"
    r"|(?P<bare>[A-Za-z_][A-Za-z0-9_]*))"
)


def interpolate(value: str, env: dict[str, str]) -> str:
    """`${VAR}`, `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `$$`."""

    def one(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name = match["braced"] or match["bare"]
        op, arg = match["op"], match["arg"] or ""
        present = name in env
        empty = not env.get(name)
        if op in (":?", "?") and (not present or (op == ":?" and empty)):
            raise MissingVariable(f"{name}: {arg}")
        if op in (":-", "-") and (not present or (op == ":-" and empty)):
            return arg
        return env.get(name, "")

    return _VAR.sub(one, value)


def interpolated(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [interpolated(item, env) for item in node]
    if isinstance(node, dict):
        return {key: interpolated(value, env) for key, value in node.items()}
    return node


def read_env(path: Path) -> dict[str, str]:
    env = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
            env[key.strip()] = value.strip()
    return env


def public_key_hex() -> str:
    raw = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return raw.hex()


def filled_env() -> dict[str, str]:
    """env.example with every secret filled in the way deploy/env.example says."""
    env = read_env(ENV_EXAMPLE)
    for name in SECRET_VARS:
        env[name] = "3f9a1c0e7b5d2846" * 3
    env["MINIO_ROOT_USER"] = "root-9f2c"
    env["CUSTOS_S3_ACCESS_KEY"] = "custos-app-4d1e"
    env["CUSTOS_LEDGER_PUBLIC_KEY"] = public_key_hex()
    return env


def compose(env: dict[str, str]) -> dict[str, Any]:
    loaded = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(loaded, dict)
    result = interpolated(loaded, env)
    assert isinstance(result, dict)
    return result


def service_env(config: dict[str, Any], service: str) -> dict[str, str]:
    environment = config["services"][service].get("environment", {})
    assert isinstance(environment, dict), f"{service}: environment as a mapping, please"
    return {str(k): str(v) for k, v in environment.items()}


# --- the compose file -------------------------------------------------------------------


def test_compose_file_is_valid_compose_spec() -> None:
    config = compose(filled_env())
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator(schema).validate(config)

    services = config["services"]
    assert set(services) >= {"minio", "minio-init", "postgres", "redis", *CUSTOS_SERVICES}
    declared = set(config.get("volumes") or {})
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown service {target}"
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith((".", "/")):
                assert source in declared, f"{name}: volume {source} is not declared"


def test_compose_services_are_set_up_as_documented() -> None:
    config = compose(filled_env())
    services = config["services"]
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis and "--maxmemory-policy noeviction" in redis
    init = services["minio-init"]["command"][0]
    assert "mc mb --ignore-existing --with-lock" in init
    assert "$MINIO_ROOT_PASSWORD" in init  # `$$` in the file: the container's shell expands it
    assert services["custos-serve"]["command"][0] == "serve"
    queues = {
        name: services[name]["command"][services[name]["command"].index("--queues") + 1]
        for name in ("custos-worker-cpu", "custos-worker-gpu")
    }
    assert queues == {"custos-worker-cpu": "cpu", "custos-worker-gpu": "gpu"}
    (device,) = services["custos-worker-gpu"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and device["capabilities"] == ["gpu"]
    assert services["custos-worker-gpu"]["build"]["args"]["GPU"] == "1"
    # Only the serving container holds the signing key; hosts share no data volume.
    key_holders = [n for n in CUSTOS_SERVICES if "CUSTOS_LEDGER_KEY_FILE" in service_env(config, n)]
    assert key_holders == ["custos-serve"]
    data = [v for n in CUSTOS_SERVICES for v in services[n]["volumes"] if "/srv/custos/data" in v]
    assert len({v.split(":")[0] for v in data}) == len(CUSTOS_SERVICES)


def test_every_custos_name_is_a_setting() -> None:
    files = [COMPOSE, ENV_EXAMPLE, SYSTEMD_ENV, DEPLOY / "Dockerfile", DOCS, *UNITS]
    unknown = {
        f"{path.relative_to(REPO)}: {name}"
        for path in files
        for name in NAME.findall(path.read_text())
        if name not in SETTING_NAMES
    }
    assert not unknown, sorted(unknown)
    # and what compose reads from .env is all in env.example
    wanted = {m["braced"] for m in _VAR.finditer(COMPOSE.read_text()) if m["braced"]}
    assert wanted <= set(read_env(ENV_EXAMPLE)), sorted(wanted - set(read_env(ENV_EXAMPLE)))


@pytest.mark.parametrize("service", CUSTOS_SERVICES)
def test_each_custos_service_loads_production_settings(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = service_env(compose(filled_env()), service)
    important = {"CUSTOS_ENVIRONMENT", "CUSTOS_DATABASE_URL", "CUSTOS_REDIS_URL",
                 "CUSTOS_OBJECT_STORE", "CUSTOS_S3_ENDPOINT", "CUSTOS_S3_ACCESS_KEY",
                 "CUSTOS_S3_SECRET_KEY", "CUSTOS_LOCAL_TIMEZONE", "CUSTOS_DATA_DIR",
                 "CUSTOS_DEVICE"}  # fmt: skip
    if service == "custos-serve":
        important |= {"CUSTOS_LEDGER_KEY_FILE", "CUSTOS_LEDGER_KEY_PASSPHRASE"}
    else:
        important |= {"CUSTOS_LEDGER_PUBLIC_KEY", "CUSTOS_ACTOR"}
    assert important <= {k for k, v in env.items() if v}, sorted(important - set(env))
    settings = _load(monkeypatch, {**env, "CUSTOS_DATA_DIR": str(tmp_path)})
    assert settings.environment == "production" and settings.object_store == "s3"
    assert settings.redis_url and settings.redis_url.startswith("redis://:")
    assert settings.resolved_database_url.startswith("postgresql://custos:")
    if service == "custos-serve":
        assert settings.ledger_public_key is None and settings.ledger_key_passphrase
    else:  # verify-only: no passphrase, so no key is ever made on a worker
        assert settings.ledger_public_key is not None and settings.ledger_key_passphrase is None
        parse_public_key(settings.ledger_public_key)
    assert settings.device == ("cuda" if service == "custos-worker-gpu" else "cpu")


def _load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    import os

    for name in list(os.environ):
        if name.upper().startswith("CUSTOS_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    check_environment()
    return Settings()


def test_unset_secrets_stop_compose() -> None:
    with pytest.raises(MissingVariable, match="POSTGRES_PASSWORD|REDIS_PASSWORD|CUSTOS_S3"):
        compose(read_env(ENV_EXAMPLE))


def test_well_known_secrets_stop_custos(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env = filled_env()
    env.update(POSTGRES_PASSWORD="postgres", CUSTOS_S3_ACCESS_KEY="minioadmin")
    served = service_env(compose(env), "custos-serve")
    with pytest.raises(ValueError) as refused:
        _load(monkeypatch, {**served, "CUSTOS_DATA_DIR": str(tmp_path)})
    assert "CUSTOS_DATABASE_URL" in str(refused.value)
    assert "CUSTOS_S3_ACCESS_KEY" in str(refused.value)


def test_workers_need_the_public_key() -> None:
    env = filled_env()
    del env["CUSTOS_LEDGER_PUBLIC_KEY"]  # keygen not run yet
    with pytest.raises(MissingVariable, match="CUSTOS_LEDGER_PUBLIC_KEY"):
        compose(env)
    env["CUSTOS_LEDGER_PUBLIC_KEY"] = ""  # an empty line in .env stops it as well
    with pytest.raises(MissingVariable, match="CUSTOS_LEDGER_PUBLIC_KEY"):
        compose(env)


def _compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    command = _compose_command()
    if command is None:
        # scripts/setup.sh installs docker-compose: in CI its absence is a failure.
        unavailable("neither `docker compose` nor `docker-compose` (scripts/setup.sh installs it)")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in filled_env().items()))
    done = subprocess.run(
        [*command, "-f", str(COMPOSE), "--env-file", str(env_file), "config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    rendered = yaml.safe_load(done.stdout)
    assert set(rendered["services"]) >= set(CUSTOS_SERVICES)
    refused = subprocess.run(
        [*command, "-f", str(COMPOSE), "--env-file", str(ENV_EXAMPLE), "config"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode != 0 and "in deploy/.env" in refused.stderr


# --- bare hosts: systemd ----------------------------------------------------------------


def test_systemd_env_example_needs_its_secrets(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = {**read_env(SYSTEMD_ENV), "CUSTOS_DATA_DIR": str(tmp_path)}
    with pytest.raises(ValueError) as refused:
        _load(monkeypatch, env)
    for name in ("CUSTOS_S3_ACCESS_KEY", "CUSTOS_S3_SECRET_KEY", "CUSTOS_LEDGER_KEY_PASSPHRASE",
                 "CUSTOS_DATABASE_URL", "CUSTOS_REDIS_URL"):  # fmt: skip
        assert name in str(refused.value), name
    secret = "3f9a1c0e7b5d2846" * 3
    env.update(
        CUSTOS_DATABASE_URL=f"postgresql://custos:{secret}@db.internal:5432/custos",
        CUSTOS_REDIS_URL=f"redis://:{secret}@redis.internal:6379/0",
        CUSTOS_S3_ACCESS_KEY="custos-app-4d1e",
        CUSTOS_S3_SECRET_KEY=secret,
        CUSTOS_LEDGER_KEY_PASSPHRASE=secret,
        CUSTOS_LEDGER_PUBLIC_KEY=public_key_hex(),
    )
    assert _load(monkeypatch, env).environment == "production"


def test_systemd_units_run_custos() -> None:
    units = {path.name: path.read_text() for path in UNITS}
    assert set(units) == {"custos-serve.service", "custos-worker@.service"}
    for text in units.values():
        assert "EnvironmentFile=/etc/custos/custos.env" in text
    assert re.search(
        r"^ExecStart=\S+/custos serve .*--no-workers", units["custos-serve.service"], re.M
    )
    assert re.search(
        r"^ExecStart=\S+/custos worker --queues %I ", units["custos-worker@.service"], re.M
    )


def test_systemd_analyze_accepts_the_units(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("no systemd-analyze here; the units' commands are checked above")
    custos = shutil.which("custos") or str(REPO / ".venv" / "bin" / "custos")
    for path in UNITS:  # the install path does not exist here: point at this checkout's
        text = path.read_text().replace("/opt/custos/venv/bin/custos", custos)
        name = path.name.replace("@.", "@cpu.")
        (tmp_path / name).write_text(text)
        if "@" in path.name:
            (tmp_path / path.name).write_text(text)
    targets = [
        str(p) for p in sorted(tmp_path.glob("*.service")) if not p.name.endswith("@.service")
    ]
    done = subprocess.run([analyze, "verify", "--man=no", *targets], capture_output=True,
                          text=True, timeout=60, check=False)  # fmt: skip
    complaints = [
        line
        for line in (done.stdout + done.stderr).splitlines()
        if any(word in line for word in ("Unknown", "Failed to parse", "bad unit", "Invalid"))
    ]
    assert done.returncode == 0 and not complaints, done.stdout + done.stderr


# --- docs -------------------------------------------------------------------------------


def test_docs_name_real_metrics_and_commands() -> None:
    text = DOCS.read_text()
    metrics_source = (REPO / "api" / "metrics.py").read_text()
    named = set(re.findall(r"\bcustos_[a-z_]+\b", text))
    assert named, "docs/deploy.md names no metric"
    # Prometheus adds these to counters and histograms; the base name is in api/metrics.py.
    suffix = re.compile(r"_(total|bucket|sum|count|created)$")
    unknown = {n for n in named if f'"{suffix.sub("", n)}"' not in metrics_source}
    assert not unknown, sorted(unknown)
    for path in ("/metrics", "/healthz", "/readyz", "custos ledger keygen", "deploy/compose.yaml"):
        assert path in text, path
