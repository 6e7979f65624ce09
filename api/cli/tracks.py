"""`custos tracks RECORDING`: the privacy regions found and tracked in a recording."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import RECORDING_HELP, console, fail, find_recording, print_json, services
from models.vision.tracks_store import StoredRun, load_run
from storage.db.schema import Recording


def _as_json(recording: Recording, run: StoredRun) -> dict[str, Any]:
    return {
        "recording_id": recording.id,
        "sha256": recording.sha256,
        "run": {
            **run.summary(),
            "params": run.params,
            "model": run.model,
            "width": run.width,
            "height": run.height,
            "fps": run.fps,
            "rotation": run.rotation,
            "created_at": run.created_at.isoformat(),
        },
        "tracks": [
            {
                "track": s.track.track_id,
                "category": s.track.category,
                "first_frame": s.track.first_frame,
                "last_frame": s.track.last_frame,
                "first_seen_frame": s.track.first_seen,
                "last_seen_frame": s.track.last_seen,
                "first_time": s.first_time,
                "last_time": s.last_time,
                "score_max": round(s.track.best.score, 4),
                "frames": s.track.counts(),
                "frame_runs": [list(r) for r in s.track.frame_runs()],
                "keyframes": [[k.frame, k.time, *k.box, k.score] for k in s.track.sightings],
                "thumbnail_key": s.thumbnail_key,
            }
            for s in run.tracks
        ],
    }


def register(app: typer.Typer) -> None:
    @app.command("tracks")
    def tracks(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        json_out: Annotated[
            bool, typer.Option("--json", help="full tracks with keyframes")
        ] = False,
    ) -> None:
        """List the faces and other privacy regions tracked in a recording."""
        with services() as svc, svc.db.session() as session:
            found = find_recording(session, recording)
            run = load_run(session, found.id)
        if run is None and found.media_kind != "video":
            fail(
                f"recording {found.id} ({found.original_name}) is {found.media_kind}, "
                "not video: detection and tracking apply to video only"
            )
        if run is None:
            fail(f"recording {found.id} has not been through detection yet")
        if json_out:
            print_json(_as_json(found, run))
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
