"""`custos case ...`, `custos stats`, `custos retention ...`, `custos hold ...`:
cases and their steps, clip links, compliance, statistics, retention and legal hold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from api.cli import records
from api.cli.common import (
    RECORDING_HELP,
    console,
    domain_errors,
    fail,
    print_json,
    services,
)
from api.services import cases as case_service
from cases.charts import write_outputs
from cases.compliance import CaseCompliance, case_to_json
from cases.kinds import Checklist, load_checklist
from cases.stats import StatsQuery
from cases.times import hms, iso, parse_time
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


def _checklist(svc: Services, path: Path | None) -> Checklist:
    return load_checklist(path, svc.settings.data_dir)


def _light(light: str, width: int = 0) -> str:
    return f"[{_STYLE[light]}]{light:<{width}}[/]"


def register(app: typer.Typer) -> None:
    case_app = typer.Typer(help="Cases, steps and recording links.", no_args_is_help=True)
    records.register(case_app)

    @case_app.command("import")
    def import_cmd(
        file: Annotated[Path, typer.Argument(help="YAML or JSON case file")],
        checklist: ChecklistOpt = None,
    ) -> None:
        """Create or update cases, steps and links from a file."""
        with domain_errors(), services() as svc:
            reports = case_service.import_cases(svc, file, _checklist(svc, checklist))
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
        with domain_errors(), services() as svc:
            made = case_service.link_recording(
                svc,
                recording,
                step,
                case_no=case_no,
                start=start,
                end=end,
                proves=proves,
                rules=_checklist(svc, checklist),
            )
        console.print(
            f"link {made.link_id}: {made.recording_name} -> step {made.step_key} "
            f"{iso(made.start) or '?'} .. {iso(made.end) or '?'}"
        )
        if made.trimmed:
            console.print(f"[yellow]trimmed to the recording:[/] {made.trimmed}", highlight=False)

    @case_app.command("suggest")
    def suggest_cmd(
        case_no: str, checklist: ChecklistOpt = None, json_out: JsonOpt = False
    ) -> None:
        """Suggest links by capture time overlapping steps and by case, device or officer."""
        with domain_errors(), services() as svc:
            rows = case_service.suggest_links(svc, case_no, _checklist(svc, checklist))
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
        with domain_errors(), services() as svc:
            view = case_service.case_view(
                svc, case_no, _checklist(svc, checklist), include_suggested=include_suggested
            )
        if json_out:
            print_json(view.to_json())
            return
        h = view.header
        console.print(
            f"[bold]{h['case_no']}[/] {h['title']}  unit: {h['unit'] or '-'}  "
            f"type: {h['type'] or '-'}  {h['status']}  opened {h['opened_at']}"
            + (f"  closed {h['closed_at']}" if h["closed_at"] else "")
        )
        if h["reason_required"]:
            console.print("viewing its recordings requires a stated reason")
        report, links, names = view.report, view.links, view.unlinked_names
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
        with domain_errors(), services() as svc:
            report = case_service.compliance_report(
                svc, case_no, _checklist(svc, checklist), include_suggested=include_suggested
            )
        if json_out:
            print_json(case_to_json(report))
        else:
            _print_compliance(report)

    @case_app.command("require-reason")
    def require_reason_cmd(
        case_no: str,
        off: Annotated[bool, typer.Option("--off", help="no longer require one")] = False,
    ) -> None:
        """Require a stated reason before anyone views this case's recordings (ledgered)."""
        with domain_errors(), services() as svc:
            case_service.set_reason_required(svc, case_no, on=not off)
        state = "no longer requires" if off else "requires"
        console.print(f"case {case_no} {state} a reason before viewing")

    def _decide(link_ids: list[int], *, accept: bool) -> None:
        with domain_errors(), services() as svc:
            done = case_service.decide_links(svc, link_ids, accept=accept)
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
        with domain_errors(), services() as svc:
            query = StatsQuery(parse_time(start), parse_time(end), unit, officer)
            if query.end <= query.start:
                fail("--to must be after --from")
            stats = case_service.statistics(svc, query, _checklist(svc, checklist))
        written = write_outputs(stats, out, charts=charts)
        s = stats.summary
        console.print(
            f"{s['cases']} cases, {s['steps']} steps ({s['steps_covered']} covered), "
            f"{s['recordings']} recordings, {s['hours']:.1f} h, "
            f"compliance {s['compliance_rate'] if s['compliance_rate'] is not None else '-'}"
        )
        console.print(f"wrote {len(written)} files to {out}")

    app.add_typer(case_app, name="case")


def _overlap_text(basis: dict[str, Any]) -> str:
    shared = basis.get("overlap_s")
    if shared is None:
        return "no capture time"
    if not shared and basis.get("outside_s"):
        return f"0 ({basis['outside_s']:g} s outside, drift)"
    return f"{shared:g}"


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
