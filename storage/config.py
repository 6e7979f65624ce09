"""Custos settings: every knob is a `CUSTOS_*` environment variable.

Lives in the lowest package so that every other package can import it. Unknown
`CUSTOS_*` variables are refused (with a suggestion) because a typo in a
retention period or a digest list must not pass silently.
"""

from __future__ import annotations

import difflib
import getpass
import os
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "CUSTOS_"
SUPPORTED_DIGESTS = ("sha256", "sm3")
# The pipeline's stages (workers/stages.py defines each; a test keeps the two in step).
# Named here so that a wrong CUSTOS_PIPELINE_STAGES is refused when settings load,
# before an ingest reads its first byte, not after it has stored the files.
PIPELINE_STAGE_NAMES = ("normalise", "transcribe", "detect")


class ConfigError(ValueError):
    """A setting is missing, malformed or unknown."""


class ServiceUnreachable(ConfigError):
    """A configured service (database, object store, queue) does not answer as set up."""


def _default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    # --- where things live -------------------------------------------------
    data_dir: Path = Path("./custos-data")
    # production: secrets left at an empty, well-known or unprotected default are refused
    environment: Literal["development", "production"] = "development"
    database_url: str | None = None  # default: SQLite file in data_dir
    object_store: Literal["local", "s3"] = "local"
    objects_dir: Path | None = None  # default: data_dir/objects

    # --- S3 / MinIO ----------------------------------------------------------
    s3_endpoint: str | None = None  # HOST:PORT; required with object_store=s3
    s3_access_key: str = ""
    s3_secret_key: str = ""
    s3_bucket: str = "custos"
    s3_secure: bool = False
    s3_region: str | None = None
    s3_part_size: int = Field(default=64 * 1024 * 1024, ge=5 * 1024 * 1024)  # S3's minimum
    s3_object_lock: bool = True  # create/require the bucket with object lock (WORM originals)
    # Object-lock retention given to each original. It must not outlast the shortest period
    # of the retention policy (cases/retention.yaml: routine, 6 months = 181 days at least),
    # or records fall due that the store refuses to delete; `custos retention` checks this.
    retention_days: int = Field(default=180, ge=0)
    retention_mode: Literal["GOVERNANCE", "COMPLIANCE"] = "COMPLIANCE"

    # --- custody ledger -----------------------------------------------------
    # The checkpoint signing key; put it on a mount of its own (not beside the database).
    ledger_key_file: Path | None = None  # default: data_dir/keys/ledger-ed25519.pem
    ledger_key_passphrase: SecretStr | None = None  # the key file is encrypted with this
    ledger_public_key: str | None = None  # verify-only hosts: PEM file, inline PEM or raw hex

    # --- acquisition --------------------------------------------------------
    digests: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["sha256"])
    actor: str = Field(default_factory=_default_actor)
    filename_patterns_file: Path | None = None
    # Zone of recorder clocks that write no offset (IANA name); unset: this machine's zone.
    local_timezone: str | None = None
    read_chunk_bytes: int = Field(default=4 * 1024 * 1024, ge=64 * 1024)
    ingest_readers: int = Field(default=2, ge=1)  # files read (hashed, stored) at once
    max_upload_bytes: int = Field(default=256 * 1024**3, ge=0)  # one tus upload, at most

    # --- queue / workers ----------------------------------------------------
    redis_url: str | None = None  # unset: embedded in-process workers
    # A job whose heartbeat is older than 2x this is taken over.
    worker_heartbeat_s: float = Field(default=30.0, gt=0)
    # Per million broker calls: requeue dead workers' messages.
    redis_maintenance_chance: int = Field(default=1000, ge=0, le=1_000_000)
    job_max_retries: int = Field(default=5, ge=0)
    pipeline_stages: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["normalise", "transcribe", "detect"]
    )  # which stages ingest queues, e.g. "normalise,transcribe" on a host without detection
    ffmpeg_timeout_factor: float = Field(default=4.0, gt=0)  # x duration, plus the base
    ffmpeg_timeout_base_s: float = Field(default=120.0, gt=0)
    proxy_height: int = Field(default=360, gt=0)

    # --- models -------------------------------------------------------------
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # Encoding stays on CPU cores unless asked: data-centre GPUs (H100/H200) have no NVENC,
    # and the host that queues a job is not always the host that encodes it.
    video_encoder: Literal["libx264", "h264_nvenc"] = "libx264"
    whisper_model: str = "base"  # base | small | tiny.en | a CTranslate2 folder path
    whisper_cache_dir: Path | None = None  # default: data_dir/models
    face_detector: Literal["centerface", "yolo"] = "centerface"
    yolo_weights: Path | None = None
    yolo_class_map: str | None = None  # "0:person,2:plate" or a YAML file path

    @field_validator("data_dir", mode="before")
    @classmethod
    def _usable_data_dir(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            # Path("") is the current folder: an archive would be written wherever one stands.
            raise ValueError("is empty; set it to the archive folder, e.g. /srv/custos")
        if isinstance(value, str | Path) and Path(value).exists() and not Path(value).is_dir():
            raise ValueError("names a file, not a folder; set it to the archive folder")
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _known_database(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        value = value.strip()
        if not value:
            return None
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError(
                "is not a database URL; use sqlite:////PATH/custos.db or "
                "postgresql://USER:PASSWORD@HOST:5432/DATABASE"
            )
        scheme = scheme.lower()
        if scheme == "postgres":  # the common short form (Heroku, libpq, docker images)
            scheme = "postgresql"
        if scheme not in ("sqlite", "postgresql", "postgresql+psycopg"):
            raise ValueError(
                f"{scheme}:// databases are not supported; use sqlite:////PATH/custos.db "
                "or postgresql://USER:PASSWORD@HOST:5432/DATABASE"
            )
        return f"{scheme}://{rest}"

    @field_validator("redis_url", mode="before")
    @classmethod
    def _redis_scheme(cls, value: object) -> object:
        if isinstance(value, str):
            value = value.strip() or None
            if value is not None and not value.lower().startswith(
                ("redis://", "rediss://", "unix://")
            ):
                raise ValueError(
                    "is not a Redis URL; use redis://HOST:6379/0 (rediss:// for TLS), "
                    "or unset it for embedded workers"
                )
        return value

    @model_validator(mode="after")
    def _s3_needs_endpoint(self) -> Settings:
        if self.object_store == "s3" and not self.s3_endpoint:
            raise ValueError(
                "CUSTOS_OBJECT_STORE=s3 needs CUSTOS_S3_ENDPOINT (HOST:PORT of the MinIO/S3 "
                "server, e.g. minio.example:9000); or set CUSTOS_OBJECT_STORE=local"
            )
        return self

    @model_validator(mode="after")
    def _no_default_secrets(self) -> Settings:
        if self.environment != "production":
            return self
        problems = default_secrets(self)
        if problems:
            raise ValueError(
                "CUSTOS_ENVIRONMENT=production refuses default secrets: " + "; ".join(problems)
            )
        return self

    @field_validator(
        "ledger_public_key", "ledger_key_file", "yolo_weights", "yolo_class_map",
        "whisper_cache_dir", "objects_dir", "s3_endpoint", "s3_region", "local_timezone",
        mode="before",
    )  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        # `CUSTOS_X=` in an env file means "not set", not "" (which as a path is the
        # current folder, and as a key would pass for one being configured).
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("digests", mode="before")
    @classmethod
    def _split_digests(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip().lower() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = [d for d in value if d not in SUPPORTED_DIGESTS]
            if unknown:
                raise ValueError(
                    f"unsupported digest(s) {unknown}; choose from {SUPPORTED_DIGESTS}"
                )
            if "sha256" not in value:
                # Objects are addressed by SHA-256, so it can never be switched off.
                value = ["sha256", *value]
        return value

    @field_validator("pipeline_stages", mode="before")
    @classmethod
    def _split_stages(cls, value: object) -> object:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list):
            unknown = [name for name in value if name not in PIPELINE_STAGE_NAMES]
            if unknown:
                raise ValueError(
                    f"unknown stage(s) {', '.join(map(str, unknown))}; "
                    f"stages are {', '.join(PIPELINE_STAGE_NAMES)} (or empty for none)"
                )
            value = list(dict.fromkeys(value))
        return value

    @field_validator("local_timezone")
    @classmethod
    def _known_zone(cls, value: object) -> object:
        if isinstance(value, str):
            from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError) as exc:
                raise ValueError(f"unknown time zone {value!r} (an IANA name)") from exc
        return value

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'custos.db').resolve()}"

    @property
    def resolved_ledger_key_file(self) -> Path:
        return (self.ledger_key_file or self.data_dir / "keys" / "ledger-ed25519.pem").resolve()

    @property
    def resolved_objects_dir(self) -> Path:
        return (self.objects_dir or self.data_dir / "objects").resolve()

    @property
    def resolved_model_cache(self) -> Path:
        return (self.whisper_cache_dir or self.data_dir / "models").resolve()


# Credentials that ship with the servers Custos talks to, or that examples use: a
# deployment that still carries one is open to anybody who read the same manual.
WELL_KNOWN_SECRETS = frozenset(
    {"", "minioadmin", "minio", "minio123", "admin", "password", "postgres", "changeme",
     "secret", "custos", "root", "test", "guest"}
)  # fmt: skip


def default_secrets(settings: Settings) -> list[str]:
    """Each secret setting left at an empty or well-known value, as `CUSTOS_X: why`."""
    out: list[str] = []
    if settings.object_store == "s3":
        for name in ("s3_access_key", "s3_secret_key"):
            value = getattr(settings, name)
            if value.strip().lower() in WELL_KNOWN_SECRETS:
                out.append(f"{ENV_PREFIX}{name.upper()}: empty or a well-known default")
    passphrase = settings.ledger_key_passphrase
    if settings.ledger_public_key is None and (
        passphrase is None or passphrase.get_secret_value().strip().lower() in WELL_KNOWN_SECRETS
    ):
        out.append(
            f"{ENV_PREFIX}LEDGER_KEY_PASSPHRASE: the signing key would lie unencrypted or "
            "under a well-known passphrase"
        )
    if settings.database_url:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            password = make_url(settings.database_url).password
        except (ArgumentError, ValueError):  # a malformed URL is reported when it is opened
            password = None
        if password is not None and str(password).strip().lower() in WELL_KNOWN_SECRETS:
            out.append(f"{ENV_PREFIX}DATABASE_URL: the database password is a well-known default")
    if settings.redis_url:
        from urllib.parse import urlsplit

        password = urlsplit(settings.redis_url).password
        if password is not None and password.strip().lower() in WELL_KNOWN_SECRETS:
            out.append(f"{ENV_PREFIX}REDIS_URL: the Redis password is a well-known default")
    return out


def check_environment(environ: dict[str, str] | None = None) -> None:
    """Refuse `CUSTOS_*` variables that name no setting."""
    env = os.environ if environ is None else environ
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields}
    known |= {"CUSTOS_TEST_POSTGRES_URL", "CUSTOS_TEST_REDIS_URL"}  # read by the test-suite only
    for name in env:
        if name.upper().startswith(ENV_PREFIX) and name.upper() not in known:
            close = difflib.get_close_matches(name.upper(), sorted(known), n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise ConfigError(f"unknown setting {name}{hint}")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    check_environment()
    return Settings()
