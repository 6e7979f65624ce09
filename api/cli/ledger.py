"""`custos ledger ...`: verify and inspect the custody ledger, and make its key."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import console, err_console, fail, print_json, services
from storage.errors import LedgerError
from storage.ledger_claim import make_archive_key
from storage.ledger_keys import ledger_passphrase, public_key_path


def _details(raw: object) -> object:
    """The event's details as an object (stored as canonical JSON text, hashed verbatim)."""
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except ValueError:
            return raw
    return raw


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(help="The hash-chained custody ledger.", no_args_is_help=True)

    @ledger_app.command("verify")
    def verify(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Check the chain against every signed checkpoint; exit 1 at the first problem.

        Checkpoints are read from the database and from the object store (the
        `ledger/checkpoints/` objects); a missing or changed key is a failure.
        """
        with services(create_key=False) as svc:
            report = svc.ledger.verify()
        if json_out:
            print_json(report.__dict__)
        elif report.ok:
            console.print(
                f"[green]ledger intact[/]: {report.events} events, "
                f"{report.checkpoints} signed checkpoints, "
                f"{report.anchors} anchored in the object store"
            )
            if report.unanchored:
                err_console.print(
                    f"[yellow]warning[/]: {report.unanchored} checkpoint(s) exist only in the "
                    "database; `custos ledger checkpoint` anchors the current head"
                )
        elif report.first_bad_seq is None:
            err_console.print(
                f"[bold red]ledger cannot be verified[/]: {report.problem}", soft_wrap=True
            )
        else:
            err_console.print(
                f"[bold red]ledger broken at event {report.first_bad_seq}[/]: {report.problem}",
                soft_wrap=True,
            )
        if not report.ok:
            raise typer.Exit(1)

    @ledger_app.command("show")
    def show(
        subject: Annotated[str | None, typer.Option(help="only events about this subject")] = None,
        limit: Annotated[int, typer.Option(help="newest N events")] = 50,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """List ledger events, newest last."""
        with services() as svc:
            events = svc.ledger.events(subject)[-limit:]
        rows: list[dict[str, Any]] = [
            {
                "seq": e.seq,
                "ts": e.ts,
                "actor": e.actor,
                "action": e.action,
                "subject": e.subject,
                "details": _details(e.details),
                "hash": e.hash,
            }
            for e in events
        ]
        if json_out:
            print_json(rows)
            return
        table = Table("seq", "time (UTC)", "actor", "action", "subject", "hash")
        for r in rows:
            table.add_row(
                str(r["seq"]), r["ts"], r["actor"], r["action"], r["subject"], r["hash"][:16]
            )
        console.print(table)

    @ledger_app.command("checkpoint")
    def checkpoint(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Sign the current head of the ledger and anchor it in the object store."""
        with services() as svc:
            try:
                head = svc.ledger.checkpoint()
            except LedgerError as exc:
                fail(str(exc))
        if json_out:
            print_json(None if head is None else head.to_json())
        elif head is None:
            console.print("ledger empty")
        else:
            console.print(
                f"signed checkpoint at event {head.seq} ({head.hash}), "
                f"anchored as {head.object_key}"
            )

    @ledger_app.command("keygen")
    def keygen(
        out: Annotated[
            Path | None,
            typer.Option(help="where to write the private key (default: CUSTOS_LEDGER_KEY_FILE)"),
        ] = None,
    ) -> None:
        """Create the ledger's signing key, once, before the first checkpoint.

        Encrypted with CUSTOS_LEDGER_KEY_PASSPHRASE when that is set. Refused when a key
        file is already there, or when the ledger already has checkpoints (a new key
        would make every existing checkpoint fail verification).
        """
        with services(create_key=False) as svc:
            path = (out or svc.settings.resolved_ledger_key_file).resolve()
            if svc.ledger.head() is not None or svc.ledger.has_anchors():
                fail(
                    "the ledger already has signed checkpoints; a new key would not verify "
                    "them. Restore the original key (or its public half, "
                    "CUSTOS_LEDGER_PUBLIC_KEY, for verifying only)."
                )
            passphrase = ledger_passphrase(svc.settings)
            try:
                key = make_archive_key(svc.db, path, passphrase)
            except LedgerError as exc:
                fail(str(exc))
        # Plain lines, never wrapped: they are copied into other hosts' settings.
        typer.echo(f"private key: {path}{' (encrypted)' if passphrase else ''}")
        typer.echo(f"public key:  {public_key_path(path)}")
        typer.echo(f"CUSTOS_LEDGER_PUBLIC_KEY={key.hex}")
        if path != svc.settings.resolved_ledger_key_file:
            typer.echo(f"signing hosts need CUSTOS_LEDGER_KEY_FILE={path}")

    app.add_typer(ledger_app, name="ledger")
