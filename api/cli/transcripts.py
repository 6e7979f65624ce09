"""`custos transcript` and `custos search`: read transcripts, find what was said."""

from __future__ import annotations

from dataclasses import asdict
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from api.cli.common import (
    RECORDING_HELP,
    console,
    err_console,
    fail,
    print_json,
    resolve_recording,
    services,
)


class TranscriptFormat(StrEnum):
    vtt = "vtt"
    srt = "srt"
    txt = "txt"
    json = "json"


def _fmt_time(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours:d}:{minutes:02d}:{secs:06.3f}"


def register(app: typer.Typer) -> None:
    @app.command("transcript")
    def transcript(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        fmt: Annotated[
            TranscriptFormat, typer.Option("--format", "-f", help="output format")
        ] = TranscriptFormat.txt,
        stream: Annotated[
            int | None, typer.Option("--stream", help="audio stream index (default: all/first)")
        ] = None,
        output: Annotated[
            Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
        ] = None,
    ) -> None:
        """Print a recording's transcript as WebVTT, SRT, plain text or JSON."""
        from api.services.transcripts import transcripts_of
        from models.speech.transcript_format import render

        with services() as svc:
            rec = resolve_recording(svc, recording)
            found = transcripts_of(svc, rec.id, stream)
            if not found:
                if stream is not None and transcripts_of(svc, rec.id):
                    fail(f"recording {rec.id} has no transcript for audio stream {stream}")
                fail(f"recording {rec.id} has not been transcribed yet")
        if fmt in (TranscriptFormat.vtt, TranscriptFormat.srt) and len(found) > 1:
            labels = ", ".join(f"{t.stream_index} ({t.stream_label})" for t in found)
            err_console.print(
                f"{len(found)} audio streams: {labels}; showing stream "
                f"{found[0].stream_index} (choose with --stream)"
            )
            found = found[:1]
        body = render(found, fmt.value)
        if output is None:
            typer.echo(body, nl=False)
        else:
            output.write_text(body, encoding="utf-8")
            console.print(f"wrote {output}")

    @app.command("search")
    def search_cmd(
        text: Annotated[str, typer.Argument(help="words or characters to find")],
        case: Annotated[str | None, typer.Option("--case", help="only this case number")] = None,
        limit: Annotated[int, typer.Option(help="at most this many hits")] = 50,
        json_out: Annotated[bool, typer.Option("--json")] = False,
    ) -> None:
        """Find what was said: recording, audio stream, time offset and snippet."""
        from models.speech.transcripts import search

        with services() as svc:
            hits = search(svc.db, text, case_no=case, limit=limit)
        if json_out:
            print_json([asdict(h) for h in hits])
            return
        if not hits:
            console.print("no match")
            return
        table = Table("recording", "stream", "at", "snippet", "case")
        for hit in hits:
            table.add_row(
                hit.recording_id,
                str(hit.stream_index),
                _fmt_time(hit.start),
                escape(hit.snippet) + (" [yellow](doubtful)[/]" if hit.doubtful else ""),
                hit.case_no or "",
            )
        console.print(table)
