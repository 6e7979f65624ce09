"""`custos jobs`, `custos worker`, `custos reprocess`: the processing pipeline."""

from __future__ import annotations

import os
import sys
import time
from typing import Annotated

import typer
from rich.live import Live
from rich.table import Table

from api.cli import common
from api.cli.common import (
    RECORDING_HELP,
    console,
    fail,
    print_json,
    resolve_recording,
    services,
)
from storage.services import Services

# `jobs --wait` on Redis says so when no worker has taken a job for this long.
NO_WORKER_HINT_S = 20.0


def _first_line(text: str, limit: int) -> str:
    """The start of an error: what went wrong comes first (the full text is in --json)."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _table(svc: Services) -> Table:
    from workers import jobs

    table = Table(title="jobs")
    for column in (
        "recording",
        "stage",
        "queue",
        "status",
        "progress",
        "tries",
        "time",
        "worker / error",
    ):
        table.add_column(column, overflow="fold")
    colour = {"done": "green", "failed": "red", "running": "cyan", "retrying": "yellow"}
    for j in jobs.list_jobs(svc):
        seconds = j.seconds
        table.add_row(
            j.recording_name,
            j.stage,
            j.queue,
            f"[{colour.get(j.status, 'white')}]{j.status}[/]",
            f"{j.progress:.0%}",
            str(j.attempts),
            f"{seconds:.1f}s" if seconds else "",
            _first_line(j.error or "", 120)
            if j.status in ("failed", "retrying")
            else (j.worker or "").rsplit(":", 1)[0],
        )
    return table


def _sweep(svc: Services, *, send: bool) -> None:
    """Jobs for recordings that have none; with `send`, messages for jobs never sent."""
    from workers.pipeline import SEND_ERRORS, sweep

    try:
        done = sweep(svc, send=send)
    except (ValueError, TypeError, LookupError) as exc:
        fail(f"cannot plan the processing: {exc}", 2)
    except SEND_ERRORS as exc:
        fail(f"cannot send jobs: {type(exc).__name__}: {exc}", 2)
    if done.created or done.sent:
        common.err_console.print(
            f"created {done.created} missing job(s), sent {done.sent} never-sent job(s)"
        )


def register(app: typer.Typer) -> None:
    @app.command("jobs")
    def jobs_cmd(
        wait: Annotated[bool, typer.Option("--wait", help="wait until no job is pending")] = False,
        json_out: Annotated[bool, typer.Option("--json")] = False,
        threads: Annotated[int, typer.Option(help="embedded worker threads")] = 2,
        timeout: Annotated[float | None, typer.Option(help="give up waiting after N s")] = None,
    ) -> None:
        """Show the jobs table; with --wait, process (embedded) or watch (Redis) until done.

        First creates the jobs of recordings that have none (an interrupted or --no-process
        ingest) and, with Redis, sends jobs whose message never went out.
        """
        with services() as svc:  # settings checked before any worker module loads
            from workers import jobs
            from workers.embedded import EmbeddedWorkers, wait_for_jobs

            _sweep(svc, send=bool(svc.settings.redis_url))
            finished = True
            if wait:
                live = Live(
                    _table(svc),
                    console=common.err_console,
                    refresh_per_second=2,
                    transient=json_out,
                )

                started = time.monotonic()
                hinted = False

                def tick() -> None:
                    nonlocal hinted
                    live.update(_table(svc))
                    if hinted or not svc.settings.redis_url:
                        return
                    if time.monotonic() - started < NO_WORKER_HINT_S:
                        return
                    waiting = jobs.list_jobs(svc, jobs.UNFINISHED)
                    if waiting and not any(v.status == jobs.RUNNING for v in waiting):
                        hinted = True
                        live.console.print(
                            f"[yellow]no worker has started a job in {NO_WORKER_HINT_S:.0f} s:[/] "
                            "with CUSTOS_REDIS_URL set, jobs run only where `custos worker` "
                            "runs against the same Redis and database; start one (or unset "
                            "CUSTOS_REDIS_URL to process inside `custos jobs --wait`)"
                        )

                with live:
                    if svc.settings.redis_url:
                        finished = wait_for_jobs(svc, tick, timeout_s=timeout)
                    else:
                        with EmbeddedWorkers(svc, threads):
                            finished = wait_for_jobs(svc, tick, timeout_s=timeout)
                    tick()
                if not common.err_console.is_terminal:
                    common.err_console.print()  # end the final table's line in logs
            views = jobs.list_jobs(svc)
        if json_out:
            print_json([v.__dict__ for v in views])
        elif not wait:
            console.print(_table(svc))
        failed = [v for v in views if v.status == "failed"]
        if failed:
            common.err_console.print(f"[red]{len(failed)} job(s) failed[/]")
        if not finished:
            fail("timed out waiting for jobs", 4)
        if wait and failed:
            raise typer.Exit(1)

    @app.command("worker")
    def worker_cmd(
        queues: Annotated[str, typer.Option(help="comma-separated: cpu,gpu")] = "cpu,gpu",
        processes: Annotated[int, typer.Option(help="worker processes")] = 1,
        threads: Annotated[int, typer.Option(help="threads per process")] = 1,
        requeue: Annotated[bool, typer.Option(help="resend unfinished jobs first")] = False,
    ) -> None:
        """Run a worker pool against Redis (CUSTOS_REDIS_URL) for the given queues.

        First creates the jobs of recordings that have none (an interrupted or --no-process
        ingest) and sends jobs whose message never went out.
        """
        # A worker host never signs the ledger: it must not make a key of its own when it
        # starts before anything is ingested (the key belongs where ingest and the API run).
        with services(create_key=False) as svc:  # settings checked before the broker loads
            from workers.broker import QUEUES

            wanted = [q.strip() for q in queues.split(",") if q.strip()]
            unknown = [q for q in wanted if q not in QUEUES]
            if unknown or not wanted:
                fail(f"unknown queue(s) {unknown}; queues are {', '.join(QUEUES)}", 2)
            if not svc.settings.redis_url:
                fail(
                    "`custos worker` needs CUSTOS_REDIS_URL; embedded mode runs its workers "
                    "inside `custos jobs --wait`",
                    2,
                )
            from redis.exceptions import RedisError

            from workers.broker import broker, check_redis_policy
            from workers.errors import BrokerConfigError

            try:
                check_redis_policy(broker)  # type: ignore[arg-type]
            except (BrokerConfigError, RedisError) as exc:
                fail(str(exc), 2)
            _sweep(svc, send=True)
            if requeue:
                from workers.pipeline import requeue_unfinished

                console.print(f"resent {requeue_unfinished(svc)} unfinished job(s)")
        args = [
            sys.executable,
            "-m",
            "dramatiq",
            "workers.actors",
            "--processes",
            str(processes),
            "--threads",
            str(threads),
            "--queues",
            *wanted,
        ]
        os.execv(sys.executable, args)

    @app.command("reprocess")
    def reprocess_cmd(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        stage: Annotated[str, typer.Option(help="stage to run again")],
    ) -> None:
        """Force a stage to run again for one recording."""
        with services() as svc:  # settings checked before the broker module loads
            from workers.pipeline import reprocess

            rec_id = resolve_recording(svc, recording).id
            try:
                job = reprocess(svc, rec_id, stage)
            except (LookupError, ValueError) as exc:
                fail(str(exc), 2)
        console.print(f"job {job.id} queued ({stage})")
