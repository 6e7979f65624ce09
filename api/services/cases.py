"""Case look-ups for the HTTP API (thin over the cases package)."""

from __future__ import annotations

from typing import Any

from cases.compliance import case_compliance, case_to_json
from cases.kinds import load_checklist
from storage.services import Services


def compliance(svc: Services, case_no: str) -> dict[str, Any]:
    """The case's computed compliance as JSON (NotFound for an unknown case)."""
    checklist = load_checklist(None, svc.settings.data_dir)
    with svc.db.session() as session:
        return case_to_json(case_compliance(session, case_no, checklist))
