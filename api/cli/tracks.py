"""`custos tracks RECORDING`: the privacy regions found and tracked in a recording."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from api.cli.common import RECORDING_HELP, console, fail, print_json, resolve_recording, services
from api.services import recordings


def register(app: typer.Typer) -> None:
    @app.command("tracks")
    def tracks(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        json_out: Annotated[
            bool, typer.Option("--json", help="full tracks with keyframes")
        ] = False,
    ) -> None:
        """List the faces and other privacy regions tracked in a recording."""
        with services() as svc:
            found = resolve_recording(svc, recording)
            run = recordings.tracks(svc, found.id)
        if run is None and found.media_kind != "video":
            fail(
                f"recording {found.id} ({found.original_name}) is {found.media_kind}, "
                "not video: detection and tracking apply to video only"
            )
        if run is None:
            fail(f"recording {found.id} has not been through detection yet")
        if json_out:
            print_json(recordings.tracks_json(found, run))
            return
        console.print(
            f"{found.original_name}: {len(run.tracks)} tracks in {run.frame_count} frames "
            f"(detector ran on {run.detect_frames}, {run.corrupt_frames} corrupt frames skipped)"
        )
        table = Table(
            "#", "category", "from (s)", "to (s)", "detected", "interp.", "extended", "max score"
        )
        for s in run.tracks:
            counts = s.track.counts()
            table.add_row(
                str(s.track.track_id),
                s.track.category,
                f"{s.first_time:.2f}",
                f"{s.last_time:.2f}",
                str(counts["detected"]),
                str(counts["interpolated"]),
                str(counts["extended"]),
                f"{s.track.best.score:.2f}",
            )
        console.print(table)
