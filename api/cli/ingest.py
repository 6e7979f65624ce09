"""`custos ingest` and `custos fixity`: acquisition from recorder dumps, and re-hashing."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import OperationalError

from api.cli.common import console, err_console, fail, print_json, services
from ingest.acquire import DEVICE_KINDS, CaptureMeta, IngestCallbacks, ingest
from ingest.errors import IngestSetupError
from ingest.fixity import fixity
from ingest.receipt import DUPLICATE, STORED, Receipt, ReceiptEntry
from storage.errors import LedgerError
from storage.services import Services

if TYPE_CHECKING:
    from workers.pipeline import JobPlanner

_STYLE = {STORED: "green", DUPLICATE: "cyan"}


def _receipt_table(receipt: Receipt) -> Table:
    table = Table(title=f"Custody receipt, run {receipt.run_id}", show_lines=False)
    for column in ("file", "status", "recording", "sha256", "size", "duration", "note"):
        table.add_column(column, overflow="fold")
    shown = _shown_paths([e.path for e in receipt.entries])
    for e, path in zip(receipt.entries, shown, strict=True):
        style = _STYLE.get(e.status, "yellow" if e.status != "unreadable" else "red")
        note = e.reason or ""
        if e.incomplete:
            note = (note + "; " if note else "") + "missing: " + ", ".join(e.missing)
        if e.resumed:
            note = (note + "; " if note else "") + "already stored by an earlier run"
        table.add_row(
            path,
            f"[{style}]{e.status}[/]",
            (e.recording_id or "")[:8],
            (e.sha256 or "")[:16],
            f"{e.size:,}" if e.size is not None else "",
            f"{e.duration_s:.1f}s" if e.duration_s else "",
            note,
        )
    return table


def _shown_paths(paths: list[str]) -> list[str]:
    """Paths below the folder they share: two `0001.MP4` from two folders stay two names."""
    if not paths:
        return []
    try:
        root = Path(os.path.commonpath(paths))
    except ValueError:  # relative and absolute mixed
        return paths
    if len(paths) == 1 or root in {Path(p) for p in paths}:
        root = root.parent
    return [str(Path(p).relative_to(root)) for p in paths]


class _Amount(ProgressColumn):
    """`3/8 files` for the file count, `1.2/4.0 GB` for the bytes."""

    def __init__(self) -> None:
        super().__init__()
        self._bytes = DownloadColumn()

    def render(self, task: Task) -> Text:
        if task.fields.get("unit") == "bytes":
            return self._bytes.render(task)
        total = "?" if task.total is None else f"{int(task.total)}"
        return Text(f"{int(task.completed)}/{total} files", style="progress.download")


class _Speed(ProgressColumn):
    def __init__(self) -> None:
        super().__init__()
        self._speed = TransferSpeedColumn()

    def render(self, task: Task) -> Text:
        return self._speed.render(task) if task.fields.get("unit") == "bytes" else Text("")


def _planner(svc: Services) -> JobPlanner:
    """Work out every stage's parameters before the first byte is read, and mend what an
    interrupted ingest left: jobs never made or never sent."""
    from workers.pipeline import SEND_ERRORS, JobPlanner, sweep

    try:
        planner = JobPlanner(svc)
    except (ValueError, TypeError, LookupError, OSError) as exc:
        fail(f"cannot plan the processing ({exc}); nothing was read", 2)
    try:
        sweep(svc, send=planner.unsent_reason is None)
    except SEND_ERRORS as exc:
        planner.unsent_reason = planner.unsent_reason or f"{type(exc).__name__}: {exc}"
    return planner


def register(app: typer.Typer) -> None:
    @app.command("ingest")
    def ingest_cmd(
        paths: Annotated[list[Path], typer.Argument(help="files or folders (scanned recursively)")],
        case: Annotated[str | None, typer.Option("--case", help="case number")] = None,
        step: Annotated[str | None, typer.Option(help="case step the recordings belong to")] = None,
        collector: Annotated[str | None, typer.Option(help="who collected the recordings")] = None,
        location: Annotated[str | None, typer.Option(help="where they were captured")] = None,
        proves: Annotated[str | None, typer.Option(help="what they prove")] = None,
        device_kind: Annotated[str, typer.Option(help="|".join(DEVICE_KINDS))] = "other",
        process: Annotated[
            bool,
            typer.Option(
                "--process/--no-process",
                help="queue the processing pipeline (with --no-process the next "
                "`custos jobs` or `custos worker` creates the jobs)",
            ),
        ] = True,
        json_out: Annotated[bool, typer.Option("--json", help="print the receipt as JSON")] = False,
    ) -> None:
        """Acquire recorder dumps: hash once while storing write-once, probe, ledger, receipt."""
        try:
            meta = CaptureMeta(case, step, collector, location, proves, device_kind)
        except ValueError as exc:
            fail(str(exc), 2)
        with services() as svc:
            try:
                svc.ledger.keys.require_signer()  # the receipt's checkpoint needs it: fail first
            except LedgerError as exc:
                fail(f"{exc}; nothing was read", 2)
            planner = _planner(svc) if process else None
            progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                _Amount(),
                _Speed(),
                TimeRemainingColumn(),
                console=err_console,
                transient=json_out,
                disable=not err_console.is_terminal,
            )
            files_task = progress.add_task("files", total=None, unit="files")
            bytes_task = progress.add_task("bytes", total=None, unit="bytes")

            def on_start(n_files: int, n_bytes: int) -> None:
                progress.update(files_task, total=n_files)
                progress.update(bytes_task, total=n_bytes)

            def on_done(entry: ReceiptEntry) -> None:
                progress.advance(files_task)

            callbacks = IngestCallbacks(
                on_start=on_start,
                on_bytes=lambda n: progress.advance(bytes_task, n),
                on_done=on_done,
            )
            if planner is not None:
                # Each recording's jobs are written with it and sent after its commit.
                callbacks.in_transaction = planner.plan
                callbacks.after_commit = planner.send
            try:
                with progress:
                    receipt = ingest(svc, paths, meta, callbacks)
            except (FileNotFoundError, IngestSetupError) as exc:
                fail(f"{exc}; nothing was read", 2)
            except OperationalError as exc:  # the database went away past its retries
                first = str(exc.orig if exc.orig is not None else exc).strip().splitlines()[0]
                fail(
                    f"the database failed during the ingest ({first}); every file recorded "
                    "so far is kept: run the same command again to resume",
                    1,
                )
            if planner is not None and planner.unsent:
                fail(
                    f"recordings stored and receipted with their {planner.unsent} job(s), but "
                    f"the jobs were not queued for processing: {planner.unsent_reason} "
                    "Then run `custos worker`, which sends them.",
                    2,
                )
        if json_out:
            print_json(receipt.to_json())
        else:
            console.print(_receipt_table(receipt))
            counts = ", ".join(f"{k} {v}" for k, v in receipt.counts().items() if v)
            console.print(f"{len(receipt.entries)} files: {counts}")
            if receipt.ledger_head is not None:
                head = receipt.ledger_head
                console.print(
                    f"ledger head: event {head.seq} {head.hash}, "
                    f"anchored as {head.object_key or '(not anchored)'}"
                )
            console.print(
                f"receipt: {svc.settings.data_dir / 'receipts'}/receipt-{receipt.run_id}.csv"
            )
        if not receipt.ok:
            raise typer.Exit(3)

    @app.command("sample-dump")
    def sample_dump_cmd(
        folder: Annotated[Path, typer.Argument(help="where to write the sample dump")],
        seconds: Annotated[float, typer.Option(help="length of each clip")] = 4.0,
        real_media: Annotated[
            Path | None,
            typer.Option(help="folder with the shared real recordings (adds a talking face)"),
        ] = None,
    ) -> None:
        """Write a small generated recorder dump (good, duplicate, truncated, empty, fake files)."""
        from ingest.sample_dump import make_sample_dump

        made = make_sample_dump(folder, seconds, real_media)
        console.print(f"wrote {len(made)} files under {folder}")

    @app.command("fixity")
    def fixity_cmd(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
        """Re-hash every stored original against its recorded digest; exit 1 on any mismatch."""
        with services() as svc:
            report = fixity(svc)
        if json_out:
            print_json(report.to_json())
        else:
            for bad in report.failures:
                err_console.print(
                    f"[bold red]FIXITY FAILURE[/] {bad.recording_id} {bad.key}: {bad.problem}"
                )
            console.print(f"checked {report.checked} originals, {len(report.failures)} failures")
            if report.checked == 0 and not report.failures:
                err_console.print(
                    f"[yellow]the archive at {svc.settings.data_dir.resolve()} holds no "
                    "originals:[/] it is new or empty. If you expected recordings here, "
                    "check CUSTOS_DATA_DIR (and CUSTOS_DATABASE_URL)",
                    soft_wrap=True,
                )
        if report.failures:
            raise typer.Exit(1)
