"""CUSTOS_ENVIRONMENT=production refuses secrets left at empty or well-known defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from api.cli.common import config_problem
from storage.config import Settings


def _settings(tmp_path: Path, **values: object) -> Settings:
    return Settings(data_dir=tmp_path, **values)  # type: ignore[arg-type]


def test_development_accepts_the_defaults(tmp_path: Path) -> None:
    s = _settings(tmp_path, object_store="s3", s3_endpoint="minio:9000",
                  s3_access_key="minioadmin", s3_secret_key="minioadmin")  # fmt: skip
    assert s.environment == "development"


def test_production_names_every_default_secret(tmp_path: Path) -> None:
    with pytest.raises(ValidationError) as caught:
        _settings(tmp_path, environment="production", object_store="s3",
                  s3_endpoint="minio:9000", s3_access_key="minioadmin", s3_secret_key="",
                  database_url="postgresql://custos:postgres@db/custos",
                  redis_url="redis://:changeme@redis:6379/0")  # fmt: skip
    line = config_problem(caught.value)
    for name in ("CUSTOS_S3_ACCESS_KEY", "CUSTOS_S3_SECRET_KEY", "CUSTOS_LEDGER_KEY_PASSPHRASE",
                 "CUSTOS_DATABASE_URL", "CUSTOS_REDIS_URL"):  # fmt: skip
        assert name in line, line
    assert "minioadmin" not in line and "changeme" not in line  # secrets are never echoed
    assert "\n" not in line


def test_production_with_real_secrets_starts(tmp_path: Path) -> None:
    s = _settings(tmp_path, environment="production", object_store="s3",
                  s3_endpoint="minio:9000", s3_access_key="custos-prod-7f3a",
                  s3_secret_key="q8Zr0Lx2-long-and-random", ledger_key_passphrase="Kd9!vTq2#w",
                  database_url="postgresql://custos:Xr7-ad93@db/custos")  # fmt: skip
    assert s.environment == "production"
    # A verify-only host holds no signing key, so it needs no passphrase.
    verify_only = _settings(tmp_path, environment="production", ledger_public_key="ab" * 32)
    assert verify_only.ledger_key_passphrase is None


def test_the_cli_refuses_in_one_line_with_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from api.cli import app
    from storage.config import get_settings

    monkeypatch.setenv("CUSTOS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("CUSTOS_ENVIRONMENT", "production")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["ledger", "verify"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2, result.output
    assert "CUSTOS_LEDGER_KEY_PASSPHRASE" in result.output


def test_an_empty_setting_is_unset_not_an_empty_value(tmp_path: Path) -> None:
    """`CUSTOS_X=` in an env file: a public key of "" must not pass for a verify-only host
    (which needs no passphrase), and a weights path of "" must not become the current folder."""
    s = _settings(tmp_path, ledger_public_key="", yolo_weights="", s3_endpoint=" ")
    assert s.ledger_public_key is None and s.yolo_weights is None and s.s3_endpoint is None
    with pytest.raises(ValidationError) as caught:
        _settings(tmp_path, environment="production", ledger_public_key="")
    assert "CUSTOS_LEDGER_KEY_PASSPHRASE" in config_problem(caught.value)


def test_cuda_models_do_not_switch_the_encoder(tmp_path: Path) -> None:
    from ingest.normalise import NormaliseParams

    on_gpu = _settings(tmp_path, device="cuda")
    assert NormaliseParams.from_settings(on_gpu).encode.video_encoder == "libx264"
    nvenc = _settings(tmp_path, device="cuda", video_encoder="h264_nvenc")
    assert NormaliseParams.from_settings(nvenc).encode.video_encoder == "h264_nvenc"
