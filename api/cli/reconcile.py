"""`custos reconcile`: the object store against the database, after a fault."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import console, err_console, print_json, services
from storage.reconcile import Adopt, reconcile
from storage.services import Services


def register(app: typer.Typer) -> None:
    @app.command("reconcile")
    def reconcile_cmd(
        dry_run: Annotated[
            bool, typer.Option("--dry-run", help="only list; adopt and quarantine nothing")
        ] = False,
        min_age: Annotated[
            float,
            typer.Option(
                "--min-age",
                help="seconds an object must be old to count as an orphan "
                "(younger ones may belong to a write still committing)",
                min=0,
            ),
        ] = 3600.0,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Adopt orphan originals, quarantine other orphan objects, and name every row
        whose object is missing; exit 1 when a row points at a missing object or an
        orphan could not be handled."""
        with services() as svc:
            report = reconcile(svc, adopt=_adopter(svc), dry_run=dry_run, min_age_s=min_age)
        if json_out:
            print_json(report.to_json())
        else:
            if report.orphans:
                table = Table(title="Orphan objects (no row refers to them)")
                for column in ("key", "size", "kind", "action", "detail"):
                    table.add_column(column, overflow="fold")
                for o in report.orphans:
                    table.add_row(o.key, f"{o.size:,}", o.kind, o.action, o.detail)
                console.print(table)
            for m in report.missing:
                err_console.print(
                    f"[bold red]MISSING OBJECT[/] {m.table}.{m.column} of row {m.row}: {m.key}",
                    soft_wrap=True,
                )
            console.print(
                f"{report.objects} objects, {report.referenced} referenced, "
                f"{len(report.orphans)} orphans, {len(report.missing)} rows naming a "
                "missing object" + (" (dry run: nothing changed)" if dry_run else "")
            )
        if not report.ok:
            raise typer.Exit(1)


def _adopter(svc: Services) -> Adopt:
    """Adopt orphan originals with their jobs planned, as a new recording's are."""
    from ingest.adopt import adopt_original
    from workers.pipeline import JobPlanner

    planner = JobPlanner(svc) if svc.settings.pipeline_stages else None

    def adopt(svc: Services, key: str, digests: dict[str, str], size: int) -> str:
        if planner is None:
            return adopt_original(svc, key, digests, size)
        return adopt_original(
            svc, key, digests, size, in_transaction=planner.plan, after_commit=planner.send
        )

    return adopt
