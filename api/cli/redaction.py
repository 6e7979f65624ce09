"""`custos redact`, `render`, `acknowledge`: the redaction plan, its render, its findings."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import console, fail, print_json, resolve_recording, services
from disclosure.errors import DisclosureError, FindingsOpen
from disclosure.export_flow import Purpose, export_recording
from disclosure.plan import PlanVersion
from disclosure.renders import RenderSummary, acknowledge, refresh_plan, render_recording
from storage.errors import PermanentError

JsonOpt = Annotated[bool, typer.Option("--json", help="machine-readable output")]


def plan_json(version: PlanVersion) -> dict[str, Any]:
    return {
        "recording_id": version.plan.recording_id,
        "version": version.version,
        "sha256": version.sha256,
        "author": version.author,
        "reason": version.reason,
        "created_at": version.created_at.isoformat(),
        "plan": version.plan.to_dict(),
    }


def render_json(summary: RenderSummary) -> dict[str, Any]:
    return {
        "render_id": summary.render_id,
        "recording_id": summary.recording_id,
        "plan_version": summary.plan_version,
        "object_key": summary.object_key,
        "sha256": summary.sha256,
        "frames": summary.frames,
        "duration_s": summary.duration_s,
        "audio_streams": summary.audio_streams,
        "reused": summary.reused,
        "findings": [asdict(f) for f in summary.findings],
        "open_findings": len(summary.open_findings),
    }


def _show_plan(version: PlanVersion) -> None:
    plan = version.plan
    console.print(f"plan v{version.version} of {plan.recording_id} ({version.reason})")
    table = Table("track", "category", "from s", "to s", "action")
    for t in plan.tracks:
        table.add_row(str(t.track_no), t.category, f"{t.first_time:.2f}", f"{t.last_time:.2f}",
                      t.method if t.redact else "kept visible")  # fmt: skip
    console.print(table)
    for m in plan.mutes:
        console.print(f"mute stream #{m.stream_index} {m.start:.2f}-{m.end:.2f} s ({m.kind})")
    console.print(f"{len(plan.regions)} manual region(s), {len(plan.full_frame)} full-frame "
                  f"span(s), metadata {'stripped' if plan.strip_metadata else 'kept'}")  # fmt: skip


def register(app: typer.Typer) -> None:
    @app.command("redact")
    def redact(
        recording: Annotated[str, typer.Argument(help="recording id, SHA-256 or a prefix")],
        name: Annotated[
            list[str] | None, typer.Option("--name", help="a personal name to mute in speech")
        ] = None,
        as_json: JsonOpt = False,
    ) -> None:
        """Make or refresh the default redaction plan and show it."""
        with services() as svc:
            rec_id = resolve_recording(svc, recording).id
            try:
                version = refresh_plan(svc, rec_id, author=svc.actor, names=name)
            except (DisclosureError, PermanentError) as exc:
                fail(str(exc), 2)
        if as_json:
            print_json(plan_json(version))
        else:
            _show_plan(version)

    @app.command("render")
    def render(
        recording: Annotated[str, typer.Argument(help="recording id, SHA-256 or a prefix")],
        as_json: JsonOpt = False,
    ) -> None:
        """Render the current plan and check the output for faces still visible."""
        with services() as svc:
            rec_id = resolve_recording(svc, recording).id
            try:
                summary = render_recording(svc, rec_id, actor=svc.actor)
            except (DisclosureError, PermanentError) as exc:
                fail(str(exc), 2)
        if as_json:
            print_json(render_json(summary))
            return
        reused = " (already rendered)" if summary.reused else ""
        console.print(
            f"rendered plan v{summary.plan_version}{reused}: {summary.frames} frames, "
            f"{summary.duration_s:.2f} s, {summary.audio_streams} audio stream(s)"
        )
        if not summary.findings:
            console.print("exposure check: nothing visible in any frame")
            return
        table = Table("finding", "category", "from s", "to s", "frames", "score", "state")
        for f in summary.findings:
            table.add_row(str(f.id), f.category, f"{f.first_time:.2f}", f"{f.last_time:.2f}",
                          str(f.frames), f"{f.score:.2f}", f.state)  # fmt: skip
        console.print(table)
        if summary.open_findings:
            console.print(
                f"{len(summary.open_findings)} open finding(s): add a region (new plan "
                "version) or `custos acknowledge REC FINDING --reason ...`"
            )

    @app.command("acknowledge")
    def acknowledge_cmd(
        recording: Annotated[str, typer.Argument(help="recording id, SHA-256 or a prefix")],
        finding: Annotated[int, typer.Argument(help="finding number from `custos render`")],
        reason: Annotated[str, typer.Option("--reason", help="why it may stay as it is")],
    ) -> None:
        """Accept an exposure finding with a reason (ledgered)."""
        with services() as svc:
            rec_id = resolve_recording(svc, recording).id
            try:
                done = acknowledge(svc, rec_id, finding, actor=svc.actor, reason=reason)
            except (DisclosureError, PermanentError) as exc:
                fail(str(exc), 2)
        console.print(f"finding {done.id} acknowledged: {done.ack_reason}")

    @app.command("export")
    def export_cmd(
        recording: Annotated[str, typer.Argument(help="recording id, SHA-256 or a prefix")],
        purpose: Annotated[Purpose, typer.Option("--purpose", help="public, party or court")],
        recipient: Annotated[str, typer.Option("--recipient", help="who receives it")],
        out: Annotated[Path, typer.Option("--out", help="the package to write (.zip)")],
        as_json: JsonOpt = False,
    ) -> None:
        """Render when needed, refuse while findings are open (exit 3), pack and sign."""
        if out.exists():
            fail(f"{out} exists; choose a new file for the package", 2)
        with services() as svc:
            rec_id = resolve_recording(svc, recording).id
            try:
                done = export_recording(svc, rec_id, purpose=purpose, recipient=recipient,
                                        out=out, actor=svc.actor)  # fmt: skip
            except FindingsOpen as exc:
                fail(str(exc), 3)
            except (DisclosureError, PermanentError) as exc:
                fail(str(exc), 2)
        if as_json:
            print_json(
                {
                    "id": done.export_id,
                    "recording_id": done.recording_id,
                    "path": str(done.path),
                    "sha256": done.sha256,
                    "plan_version": done.plan_version,
                    "render_id": done.render_id,
                }
            )
            return
        console.print(f"exported {done.export_id} to {done.path} (sha256 {done.sha256[:16]}…); "
                      f"check it anywhere with `custos verify {done.path.name}`")  # fmt: skip
