"""`custos case ...`, `custos stats`, `custos retention ...`, `custos hold ...`:
cases and their steps, clip links, compliance, statistics, retention and legal hold."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.cli.common import (
    RECORDING_HELP,
    console,
    err_console,
    fail,
    find_recording,
    print_json,
    services,
)
from cases.charts import write_outputs
from cases.compliance import CaseCompliance, case_compliance, case_to_json
from cases.errors import CasesError
from cases.importer import import_file
from cases.kinds import Checklist, load_checklist
from cases.links import decide, link_manual, resolve_range, suggest
from cases.repo import find_case, find_step
from cases.retention import (
    DisposalOutcome,
    RetentionPolicy,
    assess_all,
    dispose,
    finish_disposals,
    load_policy,
    lock_conflict,
    set_hold,
)
from cases.stats import StatsQuery, compute
from cases.tables import Link, Step
from cases.times import hms, iso, parse_time
from storage.db.schema import Recording
from storage.errors import StorageError
from storage.services import Services

_STYLE = {"green": "green", "yellow": "yellow", "red": "bold red"}

ChecklistOpt = Annotated[
    Path | None,
    typer.Option(
        "--checklist", help="checklist YAML (default: DATA_DIR/checklist.yaml or built-in)"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON")]
SuggestedOpt = Annotated[
    bool, typer.Option("--include-suggested", help="count unconfirmed suggestions too")
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", help="retention YAML (default: DATA_DIR/retention.yaml or built-in)"),
]


@contextlib.contextmanager
def _guard() -> Iterator[None]:
    """Turn the domain's refusals into one-line errors instead of tracebacks."""
    try:
        yield
    except (CasesError, StorageError) as exc:
        fail(str(exc))


def _checklist(svc: Services, path: Path | None) -> Checklist:
    return load_checklist(path, svc.settings.data_dir)


def _light(light: str, width: int = 0) -> str:
    return f"[{_STYLE[light]}]{light:<{width}}[/]"


def register(app: typer.Typer) -> None:
    case_app = typer.Typer(help="Cases, steps and recording links.", no_args_is_help=True)
    retention_app = typer.Typer(help="Retention periods and disposal.", no_args_is_help=True)
    hold_app = typer.Typer(help="Legal hold on originals.", no_args_is_help=True)

    @case_app.command("import")
    def import_cmd(
        file: Annotated[Path, typer.Argument(help="YAML or JSON case file")],
        checklist: ChecklistOpt = None,
    ) -> None:
        """Create or update cases, steps and links from a file."""
        with _guard(), services() as svc:
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                reports = import_file(session, file, rules, actor=svc.actor, ledger=svc.ledger)
        for r in reports:
            verb = "created" if r.created else "updated"
            console.print(
                f"case {r.case_no} {verb}: {len(r.steps_added)} steps added, "
                f"{len(r.steps_updated)} updated, {len(r.links)} links"
            )

    @case_app.command("link")
    def link_cmd(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        step: Annotated[str, typer.Option("--step", help="step id, KEY or CASE_NO:KEY")],
        case_no: Annotated[str | None, typer.Option("--case", help="case of the step")] = None,
        start: Annotated[
            str | None, typer.Option("--from", help="ISO time or offset into the recording")
        ] = None,
        end: Annotated[
            str | None, typer.Option("--to", help="ISO time or offset into the recording")
        ] = None,
        proves: Annotated[str | None, typer.Option("--proves", help="what it proves")] = None,
        checklist: ChecklistOpt = None,
    ) -> None:
        """Link (part of) a recording to a step, confirmed by you."""
        with _guard(), services() as svc:
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                rec = find_recording(session, recording)
                target = find_step(session, step, case_no or rec.case_no)
                lo, hi = resolve_range(rec, start, end)
                link = link_manual(
                    session,
                    rec,
                    target,
                    start=lo,
                    end=hi,
                    proves=proves,
                    actor=svc.actor,
                    checklist=rules,
                    ledger=svc.ledger,
                )
                console.print(
                    f"link {link.id}: {rec.original_name} -> step {target.key} "
                    f"{iso(link.range_start) or '?'} .. {iso(link.range_end) or '?'}"
                )
                trimmed = _trimmed(lo, hi, link.range_start, link.range_end)
                if trimmed:
                    console.print(
                        f"[yellow]trimmed to the recording:[/] {trimmed}", highlight=False
                    )

    @case_app.command("suggest")
    def suggest_cmd(
        case_no: str, checklist: ChecklistOpt = None, json_out: JsonOpt = False
    ) -> None:
        """Suggest links by capture time overlapping steps and by case, device or officer."""
        with _guard(), services() as svc:
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                case = find_case(session, case_no)
                made = suggest(session, case, rules, actor=svc.actor, ledger=svc.ledger)
                names = _names(session, [m.recording_id for m in made])
        rows: list[dict[str, Any]] = [
            {
                "link": m.link_id,
                "step": m.step_key,
                "recording": m.recording_id,
                "name": names.get(m.recording_id, ""),
                "from": iso(m.range_start),
                "to": iso(m.range_end),
                "basis": m.basis,
                "pending_before": m.pending_before,
            }
            for m in made
        ]
        if json_out:
            print_json(rows)
            return
        if not rows:
            console.print("no suggestions: nothing new, nothing pending")
            return
        fresh = sum(1 for r in rows if not r["pending_before"])
        table = Table("link", "step", "recording", "from", "to", "overlap s", "why", "status")
        for r in rows:
            basis = r["basis"]
            why = ", ".join(
                k for k in ("case_no", "tagged_step", "device", "officer") if basis.get(k)
            )
            table.add_row(
                str(r["link"]),
                r["step"],
                r["name"],
                r["from"] or "?",
                r["to"] or "?",
                _overlap_text(basis),
                why,
                "pending from before" if r["pending_before"] else "new",
            )
        console.print(table)
        console.print(f"{fresh} new, {len(rows) - fresh} pending from before")
        console.print("confirm with: custos case confirm LINK_ID ...  (or reject)")

    @case_app.command("confirm")
    def confirm_cmd(link_ids: list[int]) -> None:
        """Confirm suggested links."""
        _decide(link_ids, accept=True)

    @case_app.command("reject")
    def reject_cmd(link_ids: list[int]) -> None:
        """Reject suggested links (they are not suggested again)."""
        _decide(link_ids, accept=False)

    @case_app.command("show")
    def show_cmd(
        case_no: str,
        checklist: ChecklistOpt = None,
        include_suggested: SuggestedOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        """The case, its steps with their lights, links and recordings without steps."""
        with _guard(), services() as svc:
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                case = find_case(session, case_no)
                report = case_compliance(
                    session, case_no, rules, include_suggested=include_suggested
                )
                links = _case_links(session, case.id)
                header = {
                    "case_no": case.case_no,
                    "title": case.title,
                    "unit": case.unit,
                    "type": case.case_type,
                    "status": case.status,
                    "opened_at": iso(case.opened_at),
                    "closed_at": iso(case.closed_at),
                }
                names = _names(session, list(report.unlinked_recordings))
        if json_out:
            print_json({**header, "compliance": case_to_json(report), "links": links})
            return
        console.print(
            f"[bold]{case.case_no}[/] {case.title}  unit: {case.unit or '-'}  "
            f"type: {case.case_type or '-'}  {case.status}  opened {iso(case.opened_at)}"
            + (f"  closed {iso(case.closed_at)}" if case.closed_at else "")
        )
        _print_compliance(report)
        if links:
            table = Table("link", "step", "recording", "from", "to", "proves", "status", "by")
            for row in links:
                table.add_row(
                    str(row["link"]),
                    row["step"],
                    row["recording"],
                    row["from"] or "?",
                    row["to"] or "?",
                    row["proves"] or "",
                    row["status"],
                    row["by"] or "",
                )
            console.print(table)
        for rec_id in report.unlinked_recordings:
            console.print(f"[yellow]recording without step:[/] {names.get(rec_id, rec_id)}")

    @case_app.command("compliance")
    def compliance_cmd(
        case_no: str,
        checklist: ChecklistOpt = None,
        include_suggested: SuggestedOpt = False,
        json_out: JsonOpt = False,
    ) -> None:
        """Lights and gaps per step, and the case's light."""
        with _guard(), services() as svc:
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                report = case_compliance(
                    session, case_no, rules, include_suggested=include_suggested
                )
        if json_out:
            print_json(case_to_json(report))
        else:
            _print_compliance(report)

    def _decide(link_ids: list[int], *, accept: bool) -> None:
        with _guard(), services() as svc:
            with svc.db.session() as session:
                done = decide(session, link_ids, accept=accept, actor=svc.actor, ledger=svc.ledger)
        verb = "confirmed" if accept else "rejected"
        console.print(f"{verb} {len(done)} link(s)")

    @app.command("stats")
    def stats_cmd(
        start: Annotated[str, typer.Option("--from", help="start (ISO date or time, UTC)")],
        end: Annotated[str, typer.Option("--to", help="end, exclusive")],
        out: Annotated[Path, typer.Option("--out", help="folder for CSV, JSON and charts")],
        unit: Annotated[str | None, typer.Option("--unit")] = None,
        officer: Annotated[str | None, typer.Option("--officer")] = None,
        charts: Annotated[bool, typer.Option("--charts/--no-charts")] = True,
        checklist: ChecklistOpt = None,
    ) -> None:
        """Statistics for a period, unit or officer: CSV, JSON and PNG/SVG charts."""
        with _guard(), services() as svc:
            query = StatsQuery(parse_time(start), parse_time(end), unit, officer)
            if query.end <= query.start:
                fail("--to must be after --from")
            rules = _checklist(svc, checklist)
            with svc.db.session() as session:
                stats = compute(session, query, rules)
        written = write_outputs(stats, out, charts=charts)
        s = stats.summary
        console.print(
            f"{s['cases']} cases, {s['steps']} steps ({s['steps_covered']} covered), "
            f"{s['recordings']} recordings, {s['hours']:.1f} h, "
            f"compliance {s['compliance_rate'] if s['compliance_rate'] is not None else '-'}"
        )
        console.print(f"wrote {len(written)} files to {out}")

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
        with _guard(), services() as svc:
            rules = load_policy(policy, svc.settings.data_dir)
            _warn_lock_conflict(rules, svc.settings.retention_days)
            with svc.db.session() as session:
                items = assess_all(session, rules, datetime.now(UTC), svc.store)
        if not all_states:
            items = [a for a in items if a.state == "due"]
        rows: list[dict[str, Any]] = [
            {
                "recording": a.recording_id,
                "name": a.name,
                "state": a.state,
                "category": a.category,
                "clock_start": iso(a.clock_start),
                "retention_end": iso(a.retention_end),
                "cases": list(a.cases),
                "detail": a.detail,
            }
            for a in items
        ]
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
        with _guard(), services() as svc:
            rules = load_policy(policy, svc.settings.data_dir)
            with svc.db.session() as session:
                rec = find_recording(session, recording)
                done = dispose(
                    session,
                    svc.store,
                    svc.ledger,
                    rec,
                    rules,
                    actor=svc.actor,
                    approved_by=approved_by,
                    reason=reason,
                )
                name, category, seq = rec.original_name, done.category, done.ledger_seq
            # Committed: only now are objects deleted (this and any earlier unfinished one).
            outcomes = finish_disposals(svc.db, svc.store, svc.ledger, actor=svc.actor)
        mine = [o for o in outcomes if o.recording_id == rec.id]
        deleted = sum(len(o.deleted) for o in mine)
        console.print(f"disposed of {name} ({category}); ledger event {seq}; "
                      f"deleted {deleted} object(s)")  # fmt: skip
        _report_unfinished(outcomes)

    @retention_app.command("finish")
    def finish_cmd() -> None:
        """Finish disposals whose objects could not all be deleted yet (safe to repeat)."""
        with _guard(), services() as svc:
            outcomes = finish_disposals(svc.db, svc.store, svc.ledger, actor=svc.actor)
        done = [o for o in outcomes if o.state == "done"]
        console.print(f"{len(done)} disposal(s) finished, {len(outcomes) - len(done)} pending")
        _report_unfinished(outcomes)

    def _report_unfinished(outcomes: list[DisposalOutcome]) -> None:
        left = [o for o in outcomes if o.state != "done"]
        for o in left:
            console.print(f"[red]pending[/red] {o.recording_id}: {o.error}; "
                          f"{len(o.remaining)} object(s) remain")  # fmt: skip
        if left:
            console.print("run `custos retention finish` once the store allows it")
            raise typer.Exit(1)

    def _warn_lock_conflict(rules: RetentionPolicy, lock_days: int) -> None:
        message = lock_conflict(rules, lock_days)
        if message:
            err_console.print(f"[yellow]warning:[/] {message}", highlight=False, soft_wrap=True)

    for on, verb in ((True, "set"), (False, "lift")):
        _hold_command(hold_app, on, verb)

    app.add_typer(case_app, name="case")
    app.add_typer(retention_app, name="retention")
    app.add_typer(hold_app, name="hold")


def _hold_command(hold_app: typer.Typer, on: bool, verb: str) -> None:
    @hold_app.command(verb)
    def hold_cmd(
        recording: Annotated[str, typer.Argument(help=RECORDING_HELP)],
        reason: Annotated[str | None, typer.Option("--reason")] = None,
    ) -> None:
        with _guard(), services() as svc:
            with svc.db.session() as session:
                rec = find_recording(session, recording)
                set_hold(session, svc.store, svc.ledger, rec, on=on, actor=svc.actor, reason=reason)
        state = "placed on" if on else "lifted from"
        console.print(f"legal hold {state} {rec.original_name}")

    hold_cmd.__doc__ = "Place a legal hold on an original." if on else "Lift a legal hold."


def _trimmed(
    lo: datetime | None,
    hi: datetime | None,
    start: datetime | None,
    end: datetime | None,
) -> str:
    """What was cut from the asked range to fit the recording ('' when nothing)."""
    cut: list[str] = []
    if lo is not None and start is not None and lo < start:
        cut.append(f"--from {iso(lo)} -> {iso(start)} (the recording starts then)")
    if hi is not None and end is not None and hi > end:
        cut.append(f"--to {iso(hi)} -> {iso(end)} (the recording ends then)")
    return "; ".join(cut)


def _overlap_text(basis: dict[str, Any]) -> str:
    shared = basis.get("overlap_s")
    if shared is None:
        return "no capture time"
    if not shared and basis.get("outside_s"):
        return f"0 ({basis['outside_s']:g} s outside, drift)"
    return f"{shared:g}"


def _names(session: Session, ids: list[str]) -> dict[str, str]:
    if not ids:
        return {}
    rows = session.execute(
        select(Recording.id, Recording.original_name).where(Recording.id.in_(ids))
    )
    return {rec_id: name for rec_id, name in rows}


def _case_links(session: Session, case_id: int) -> list[dict[str, Any]]:
    rows = session.execute(
        select(Link, Step.key, Recording.original_name)
        .join(Step, Step.id == Link.step_id)
        .join(Recording, Recording.id == Link.recording_id)
        .where(Step.case_id == case_id)
        .order_by(Step.start_at, Link.range_start, Link.id)
    )
    return [
        {
            "link": link.id,
            "step": key,
            "recording_id": link.recording_id,
            "recording": name,
            "from": iso(link.range_start),
            "to": iso(link.range_end),
            "proves": link.proves,
            "status": link.status,
            "by": link.decided_by or link.created_by,
        }
        for link, key, name in rows
    ]


def _print_compliance(report: CaseCompliance) -> None:
    """One line per step and one indented line per issue: readable at any terminal width."""
    console.print(f"case {report.case_no}: {_light(report.light)}")
    for s in report.steps:
        end = hms(s.end, same_day_as=s.start) if s.end else "?"
        covered = f"  covered {s.covered_s:.0f}/{s.window_s:.0f} s" if s.end else ""
        console.print(
            f"  {_light(s.light, 6)} {s.key}  {s.kind_name} ({s.requirement})  "
            f"{hms(s.start)} - {end}{covered}",
            highlight=False,
        )
        for issue in s.issues:
            console.print(f"           {issue}", highlight=False)
    for issue in report.issues:
        console.print(f"[yellow]{issue}[/]")
