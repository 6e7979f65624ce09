"""`custos case attach | statements | search`: written records beside the recordings,
what the officer said in each step, and search over both."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli.common import console, fail, print_json, services
from api.services import cases as case_service
from cases.compliance import StepCompliance, speech_to_json
from cases.errors import CasesError
from cases.kinds import WRITTEN_KINDS
from cases.records import attach, search_case
from cases.times import iso
from storage.errors import StorageError

_MARK = {"found": "[green]found[/]", "late": "[yellow]late[/]", "missing": "[yellow]missing[/]",
         "unchecked": "unchecked"}  # fmt: skip


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    try:
        yield
    except (CasesError, StorageError) as exc:
        fail(str(exc))
    except FileNotFoundError as exc:
        fail(str(exc))


def _clock(seconds: float) -> str:
    m, s = divmod(max(0.0, seconds), 60)
    return f"{int(m):02d}:{s:04.1f}"


def register(case_app: typer.Typer) -> None:
    @case_app.command("attach")
    def attach_cmd(
        case_no: str,
        step: Annotated[str, typer.Argument(help="the step's key (or CASE:KEY, or its id)")],
        files: Annotated[list[Path], typer.Argument(help="PDF, scanned images or text files")],
        kind: Annotated[str, typer.Option("--kind", help="|".join(WRITTEN_KINDS))],
        json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Attach written records to a step: stored, hashed and ledgered like originals,
        their text extracted and searchable with the transcripts."""
        with _guard(), services() as svc:
            receipt, done = attach(svc, case_no, step, files, kind)  # receipt written too
        rows: list[dict[str, Any]] = [
            {
                "path": a.path,
                "status": a.status,
                "recording_id": a.recording_id,
                "sha256": a.sha256,
                "kind": a.kind,
                "text": a.text_source,
                "chars": a.chars,
                "note": a.note,
            }
            for a in done
        ]
        if json_out:
            print_json({"run_id": receipt.run_id, "attached": rows})
        else:
            table = Table("file", "status", "kind", "text", "chars", "sha256", "note")
            for r in rows:
                cells = [r["path"], r["status"], r["kind"], r["text"] or "-", str(r["chars"])]
                table.add_row(*cells, (r["sha256"] or "")[:16], r["note"] or "")
            console.print(table)
        if not all(a.attached for a in done):
            raise typer.Exit(3)  # unreadable, or a recording rather than a document

    @case_app.command("statements")
    def statements_cmd(
        case_no: str,
        checklist: Annotated[
            Path | None, typer.Option("--checklist", help="checklist YAML")
        ] = None,
        include_suggested: Annotated[bool, typer.Option("--include-suggested")] = False,
        json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Per step: the required statements found (time, words, score, link) or missing
        in each recording, uncivil expressions flagged, and the written records."""
        with _guard(), services() as svc:
            rules = case_service.checklist(svc, checklist)
            report = case_service.compliance_report(
                svc, case_no, rules, include_suggested=include_suggested
            )
        if json_out:
            print_json({"case_no": report.case_no, "steps": [_step_json(s) for s in report.steps]})
            return
        for step in report.steps:
            _print_step(step)

    @case_app.command("search")
    def search_cmd(
        case_no: str,
        text: str,
        json_out: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    ) -> None:
        """Search the case's transcripts and written records together."""
        with _guard(), services() as svc:
            spoken, written = search_case(svc.db, text, case_no=case_no)
        if json_out:
            print_json({
                "transcripts": [{"recording_id": h.recording_id, "start": h.start, "end": h.end,
                                 "snippet": h.snippet} for h in spoken],
                "written_records": [{"record_id": h.record_id, "recording_id": h.recording_id,
                                     "step": h.step, "kind": h.kind, "name": h.name,
                                     "page": h.page, "snippet": h.snippet} for h in written],
            })  # fmt: skip
            return
        for h in spoken:
            console.print(f"said    {h.recording_id[:8]} {_clock(h.start)}  {h.snippet}")
        for d in written:
            page = f" p.{d.page}" if d.page else ""
            console.print(f"written {d.step} {d.kind} {d.name}{page}  {d.snippet}")
        if not spoken and not written:
            console.print("no match")


def _step_json(step: StepCompliance) -> dict[str, Any]:
    return {
        "key": step.key,
        "kind": step.kind,
        "light": step.light,
        **speech_to_json(step.speech),
        "written_records": list(step.written),
        "written_records_missing": list(step.written_missing),
    }


def _print_step(step: StepCompliance) -> None:
    console.print(f"[bold]{step.key}[/] {step.kind_name}  {iso(step.start)}  light: {step.light}")
    speech = step.speech
    if speech is not None:
        for v in speech.verdicts:
            line = f"  {_MARK[v.status]} {v.name}"
            if v.heard is not None:
                h = v.heard
                line += (f" at {_clock(h.start_s)} in {h.recording} (score {h.score:.2f}): "
                         f"{h.words!r}  {h.play}")  # fmt: skip
            console.print(line, highlight=False, soft_wrap=True)
            if v.message:
                console.print(f"    {v.message}", highlight=False, soft_wrap=True)
        for rec in speech.recordings:
            if not rec.checked:
                console.print(f"  {rec.recording}: not checked ({rec.note})", highlight=False)
            elif rec.missing:
                console.print(f"  {rec.recording}: missing {', '.join(rec.missing)}",
                              highlight=False)  # fmt: skip
        for f in speech.flags:
            h = f.heard
            console.print(f"  [red]{f.name}[/] at {_clock(h.start_s)} in {h.recording}: "
                          f"{h.words!r}  {h.play}", highlight=False, soft_wrap=True)  # fmt: skip
    for w in step.written:
        source = f"{w['text_source']}, {w['chars']} chars"
        console.print(f"  written {w['kind']}: {w['name']} ({source})", highlight=False)
    for kind in step.written_missing:
        console.print(f"  [yellow]no written record[/] ({kind})", highlight=False)
