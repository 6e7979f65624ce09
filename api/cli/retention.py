"""`custos retention ...` and `custos hold ...`: retention periods, two-person disposal and
legal hold, over api/services/retention.py."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import (
    RECORDING_HELP,
    console,
    domain_errors,
    err_console,
    print_json,
    services,
)
from api.services import retention as retention_service
from cases.retention import DisposalOutcome

PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="retention YAML (default: DATA_DIR/retention.yaml or built-in)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]


def register(app: typer.Typer) -> None:
    retention_app = typer.Typer(help="Retention periods and disposal.", no_args_is_help=True)
    hold_app = typer.Typer(help="Legal hold on originals.", no_args_is_help=True)

    @retention_app.command("due")
    def due_cmd(
        policy: PolicyOpt = None,
        all_states: Annotated[
            bool, typer.Option("--all", help="also list what is held back, and why")
        ] = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Recordings whose retention period has ended (not held, no open case, not locked
        in the object store): what `retention dispose` can remove."""
        with domain_errors(), services() as svc:
            rules = retention_service.policy(svc, policy)
            warning = retention_service.lock_warning(svc, rules)
            if warning:
                err_console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
            rows = retention_service.due(svc, rules, all_states=all_states)
        if json_out:
            print_json(rows)
            return
        table = Table("recording", "name", "state", "category", "retention end", "cases", "detail")
        for r in rows:
            table.add_row(
                r["recording"],
                r["name"],
                r["state"],
                r["category"],
                r["retention_end"] or "-",
                ", ".join(r["cases"]),
                r["detail"],
            )
        console.print(table)

    @retention_app.command("dispose")
    def dispose_cmd(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        approved_by: Annotated[str, typer.Option("--approved-by", help="the approving person")],
        reason: Annotated[str, typer.Option("--reason")],
        policy: PolicyOpt = None,
    ) -> None:
        """Dispose of a due recording with a second person's approval (ledgered)."""
        with domain_errors(), services() as svc:
            done = retention_service.dispose_recording(
                svc,
                recording,
                retention_service.policy(svc, policy),
                approved_by=approved_by,
                reason=reason,
            )
        console.print(f"disposed of {done.name} ({done.category}); ledger event "
                      f"{done.ledger_seq}; deleted {done.deleted} object(s)")  # fmt: skip
        _report_unfinished(done.outcomes)

    @retention_app.command("finish")
    def finish_cmd() -> None:
        """Finish disposals whose objects could not all be deleted yet (safe to repeat)."""
        with domain_errors(), services() as svc:
            outcomes = retention_service.finish(svc)
        done = [o for o in outcomes if o.state == "done"]
        console.print(f"{len(done)} disposal(s) finished, {len(outcomes) - len(done)} pending")
        _report_unfinished(outcomes)

    for on, verb in ((True, "set"), (False, "lift")):
        _hold_command(hold_app, on, verb)

    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")


def _report_unfinished(outcomes: list[DisposalOutcome]) -> None:
    left = [o for o in outcomes if o.state != "done"]
    for o in left:
        console.print(f"[red]pending[/red] {o.recording_id}: {o.error}; "
                      f"{len(o.remaining)} object(s) remain")  # fmt: skip
    if left:
        console.print("run `custos retention finish` once the store allows it")
        raise typer.Exit(1)


def _hold_command(hold_app: typer.Typer, on: bool, verb: str) -> None:
    @hold_app.command(verb)
    def hold_cmd(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        reason: Annotated[str | None, typer.Option("--reason")] = None,
    ) -> None:
        with domain_errors(), services() as svc:
            name = retention_service.hold(svc, recording, on=on, reason=reason)
        state = "placed on" if on else "lifted from"
        console.print(f"legal hold {state} {name}")

    hold_cmd.__doc__ = "Place a legal hold on an original." if on else "Lift a legal hold."
