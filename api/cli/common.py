"""Shared helpers for CLI commands: opening services, printing errors."""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Iterator
from typing import Any, NoReturn, TextIO

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.orm import Session

from api.services import recordings
from storage import lookup
from storage.config import ENV_PREFIX, ConfigError
from storage.db.schema import Recording
from storage.services import Services


def _width(stream: TextIO) -> int | None:
    """Terminals: their width. Pipes and logs: wide enough that tables are not squeezed to
    rich's 80-column default (`capture_ / time`); COLUMNS still wins when set."""
    if os.environ.get("COLUMNS") or stream.isatty():
        return None
    return 250


console = Console(width=_width(sys.stdout))
err_console = Console(stderr=True, width=_width(sys.stderr))


def fail(message: str, code: int = 1) -> NoReturn:
    # One line, however long: a log or a script reads the whole message on it.
    err_console.print(f"[bold red]error:[/] {message}", soft_wrap=True)
    raise typer.Exit(code)


def config_problem(exc: ConfigError | ValidationError) -> str:
    """A settings error as one line naming each bad variable: `CUSTOS_X: what is wrong`."""
    if isinstance(exc, ConfigError):
        return str(exc)
    problems = []
    for error in exc.errors():
        message = str(error["msg"]).removeprefix("Value error, ")
        if not error["loc"]:  # a check across settings names its variables itself
            problems.append(message)
            continue
        field = str(error["loc"][0])
        name = ENV_PREFIX + field.upper()
        value = error.get("input")
        if field in _SECRET_FIELDS:
            shown = "(hidden)"
        elif isinstance(value, str) and field.endswith("_url"):
            shown = repr(re.sub(r"://([^:/@]*):[^@/]*@", r"://\1:***@", value))
        elif isinstance(value, str | int | float):
            shown = repr(str(value))
        else:
            shown = ""
        problems.append(f"{name}={shown}: {message}" if shown else f"{name}: {message}")
    return "; ".join(problems) or str(exc)


# Settings whose values are never printed.
_SECRET_FIELDS = frozenset({"s3_secret_key", "s3_access_key", "ledger_key_passphrase"})


@contextlib.contextmanager
def services(*, create_key: bool = True) -> Iterator[Services]:
    """Open the services; `create_key=False` never makes a ledger key, even on a new ledger."""
    try:
        svc = Services.open(create_key=create_key)
    except (ConfigError, ValidationError) as exc:
        fail(f"bad configuration: {config_problem(exc)}", 2)
    try:
        yield svc
    finally:
        svc.close()


def find_recording(session: Session, ref: str) -> Recording:
    """The recording `ref` names, for every command alike (`storage.lookup`).

    No match: exit 1; several matches: the candidates on one line, exit 2.
    """
    try:
        return lookup.find_recording(session, ref)
    except lookup.AmbiguousRecording as exc:
        fail(str(exc), 2)
    except lookup.NoSuchRecording as exc:
        fail(str(exc), 1)


def resolve_recording(svc: Services, ref: str) -> Recording:
    """`find_recording` in a session of its own, through the service layer."""
    try:
        return recordings.resolve(svc, ref)
    except lookup.AmbiguousRecording as exc:
        fail(str(exc), 2)
    except lookup.NoSuchRecording as exc:
        fail(str(exc), 1)


@contextlib.contextmanager
def domain_errors() -> Iterator[None]:
    """The service layer's refusals as one-line errors: exit 2 for a recording name that
    fits several (the candidates are listed), 1 for any other refusal."""
    from cases.errors import CasesError
    from storage.errors import StorageError

    try:
        yield
    except lookup.AmbiguousRecording as exc:
        fail(str(exc), 2)
    except (CasesError, StorageError) as exc:
        fail(str(exc))


RECORDING_HELP = "recording: id, SHA-256 (or 6+ characters of either) or file name"


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
