"""Shared helpers for CLI commands: opening services, printing errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console

from storage.config import ConfigError
from storage.services import Services

console = Console()
err_console = Console(stderr=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {message}")
    raise typer.Exit(code)


@contextlib.contextmanager
def services(*, create_key: bool = True) -> Iterator[Services]:
    """Open the services; `create_key=False` never makes a ledger key, even on a new ledger."""
    try:
        svc = Services.open(create_key=create_key)
    except (ConfigError, ValidationError) as exc:
        fail(f"bad configuration: {exc}", 2)
    try:
        yield svc
    finally:
        svc.close()


def print_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False, default=str))
