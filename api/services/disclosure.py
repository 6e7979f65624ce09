"""Disclosure as domain operations over `Services`: plan versions, the latest render,
findings, exports and withdrawal. Both `custos redact|render|export|exports|withdraw` and
the HTTP routes call these."""

from __future__ import annotations

import tempfile
from pathlib import Path

from disclosure import exports as export_store
from disclosure.errors import PlanError
from disclosure.export_flow import ExportResult, Purpose, export_recording
from disclosure.package import RevocationList
from disclosure.plan import Method, Mute, Plan, PlanVersion, Region, versions
from disclosure.renders import FindingRow, RenderSummary, change_plan, latest_render
from storage.ledger_keys import SigningKey
from storage.services import Services


def plan_versions(svc: Services, recording_id: str) -> list[PlanVersion]:
    """Every saved version of the recording's redaction plan, oldest first."""
    with svc.db.session() as session:
        return versions(session, recording_id)


def edit_plan(
    svc: Services,
    recording_id: str,
    *,
    author: str,
    reason: str,
    tracks: dict[int, tuple[bool, Method, str]] | None = None,
    regions: list[Region] | None = None,
    mutes: list[Mute] | None = None,
) -> PlanVersion:
    """A new plan version: track decisions applied (each must name a track of the plan),
    and the regions and mutes replaced when given."""

    def change(plan: Plan) -> None:
        if tracks is not None:
            known = {t.track_no: t for t in plan.tracks}
            unknown = sorted(set(tracks) - set(known))
            if unknown:
                raise PlanError(f"the plan has no track(s) {unknown}")
            for no, (redact, method, note) in tracks.items():
                known[no].redact, known[no].method, known[no].note = redact, method, note
        if regions is not None:
            plan.regions = list(regions)
        if mutes is not None:
            plan.mutes = list(mutes)

    return change_plan(svc, recording_id, change, author=author, reason=reason)


def latest(svc: Services, recording_id: str) -> RenderSummary | None:
    """The render of the current plan version with its findings (None before one)."""
    with svc.db.session() as session:
        return latest_render(session, recording_id)


def finding_of(svc: Services, recording_id: str, finding_id: int) -> bool:
    """Whether `finding_id` is a finding of this recording's renders."""
    with svc.db.session() as session:
        row = session.get(FindingRow, finding_id)
        return row is not None and row.recording_id == recording_id


def export_to(
    svc: Services, recording_id: str, *, purpose: Purpose, recipient: str, out: Path, actor: str
) -> ExportResult:
    """Render when needed, refuse while findings are open, pack, sign, store, record."""
    return export_recording(
        svc, recording_id, purpose=purpose, recipient=recipient, out=out, actor=actor
    )


def export_stored(
    svc: Services, recording_id: str, *, purpose: Purpose, recipient: str, actor: str
) -> export_store.ExportRecord:
    """Like `export_to`, for callers that download the stored package later (HTTP)."""
    with tempfile.TemporaryDirectory(prefix="custos-export-") as tmp:
        result = export_to(svc, recording_id, purpose=purpose, recipient=recipient,
                           out=Path(tmp) / "package.zip", actor=actor)  # fmt: skip
    record = get_export(svc, result.export_id)
    assert record is not None  # recorded by export_recording before it returns
    return record


def list_exports(svc: Services, recording_id: str | None = None) -> list[export_store.ExportRecord]:
    with svc.db.session() as session:
        return export_store.list_exports(session, recording_id)


def get_export(svc: Services, export_id: str) -> export_store.ExportRecord | None:
    with svc.db.session() as session:
        return export_store.get_export(session, export_id)


def withdraw(
    svc: Services, export_id: str, *, actor: str, reason: str
) -> export_store.ExportRecord:
    """Withdraw an export (ledgered `disclosure.withdrawn`)."""
    return svc.db.run(lambda s: export_store.withdraw(s, svc.ledger, export_id, actor, reason))


def revocations(svc: Services, signer: SigningKey, out: Path) -> RevocationList:
    """Write the signed list of withdrawn exports to `out`."""
    with svc.db.session() as session:
        return export_store.write_revocations(session, signer, out)
