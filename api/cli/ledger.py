"""`custos ledger ...`: verify and inspect the custody ledger."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import console, err_console, print_json, services


def register(app: typer.Typer) -> None:
    ledger_app = typer.Typer(help="The hash-chained custody ledger.", no_args_is_help=True)

    @ledger_app.command("verify")
    def verify(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Check the whole chain and the signed checkpoints; exit 1 at the first broken event."""
        with services() as svc:
            report = svc.ledger.verify()
        if json_out:
            print_json(report.__dict__)
        elif report.ok:
            console.print(
                f"[green]ledger intact[/]: {report.events} events, "
                f"{report.checkpoints} signed checkpoints"
            )
        else:
            err_console.print(
                f"[bold red]ledger broken at event {report.first_bad_seq}[/]: {report.problem}"
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
                "details": e.details,
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
    def checkpoint() -> None:
        """Sign the current head of the ledger."""
        with services() as svc:
            cp = svc.ledger.checkpoint()
        console.print("ledger empty" if cp is None else f"signed checkpoint at event {cp.seq}")

    app.add_typer(ledger_app, name="ledger")
