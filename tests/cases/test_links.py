"""Suggestions by capture-time overlap and by case, device or officer; confirm; manual links."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from cases.errors import Ambiguous, LinkError, NotFound
from cases.links import decide, link_manual, resolve_range, suggest
from cases.repo import find_recording, find_step
from cases.tables import Link
from storage.db.schema import LedgerEvent
from storage.services import Services
from tests.cases.case_factory import add_case, add_recording, add_step, at, checklist

RULES = checklist(tolerance=5)


def test_suggestions_by_overlap_and_device_or_officer(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "L-1")
        seizure = add_step(
            s, case, "S1", "seizure", at(14, 0), at(14, 30), officers=["wang"], devices=["DSJ-9"]
        )
        hearing = add_step(s, case, "S2", "hearing", at(16, 0), at(16, 30), officers=["li"])
        by_device = add_recording(s, start=at(13, 55), seconds=600, device="DSJ-9", collector="x")
        by_officer = add_recording(s, start=at(14, 10), seconds=300, device="D2", collector="wang")
        by_case = add_recording(
            s, start=at(16, 5), seconds=120, device="D3", collector="y", case_no="L-1"
        )
        drift = add_recording(s, start=at(14, 30, 3), seconds=60, device="DSJ-9", collector="x")
        # Same time and device, but tagged with another case: never suggested.
        other_case = add_recording(s, start=at(14, 0), seconds=60, device="DSJ-9", case_no="L-2")
        # Overlaps in time only: no device, officer or case in common.
        stranger = add_recording(s, start=at(14, 0), seconds=600, device="D7", collector="zhao")
        # Right device, wrong time.
        later = add_recording(s, start=at(18, 0), seconds=600, device="DSJ-9", collector="x")
        # Tagged with the case and the step's kind, but without capture time.
        untimed = add_recording(
            s, start=None, seconds=None, device=None, case_no="L-1", step="hearing"
        )
        made = suggest(s, case, RULES, actor="custos", ledger=svc.ledger)

    pairs = {(m.recording_id, m.step_key) for m in made}
    assert pairs == {
        (by_device.id, "S1"),
        (by_officer.id, "S1"),
        (by_case.id, "S2"),
        (drift.id, "S1"),
        (untimed.id, "S2"),
    }
    for rec in (other_case, stranger, later):
        assert all(m.recording_id != rec.id for m in made)
    first = next(m for m in made if m.recording_id == by_device.id)
    # The suggested range is the part of the recording inside the step window.
    assert (first.range_start, first.range_end) == (at(14, 0), at(14, 5))
    assert first.basis == {
        "overlap_s": 300.0,
        "outside_s": 0.0,
        "case_no": False,
        "tagged_step": False,
        "device": True,
        "officer": False,
    }
    assert next(m for m in made if m.recording_id == untimed.id).basis["tagged_step"] is True
    assert seizure.id and hearing.id

    with svc.db.session() as s:
        again = suggest(s, case, RULES, actor="custos", ledger=svc.ledger)
        # Nothing new the second time, but what waits for a decision is listed again.
        assert all(m.pending_before for m in again)
        assert {(m.link_id, m.recording_id) for m in again} == {
            (m.link_id, m.recording_id) for m in made
        }
        accepted = decide(s, [first.link_id], accept=True, actor="clerk", ledger=svc.ledger)
        rejected = decide(
            s,
            [m.link_id for m in made if m.recording_id == drift.id],
            accept=False,
            actor="clerk",
            ledger=svc.ledger,
        )
    assert accepted[0].status == "confirmed" and accepted[0].decided_by == "clerk"
    assert rejected[0].status == "rejected"
    with svc.db.session() as s:
        left = suggest(s, case, RULES, actor="custos")
        # Rejected stays rejected, confirmed is no longer pending.
        assert {m.recording_id for m in left} == {by_officer.id, by_case.id, untimed.id}
        assert all(m.pending_before for m in left)
        actions = [e.action for e in s.scalars(select(LedgerEvent).order_by(LedgerEvent.seq))]
    assert actions == ["case.links.suggested", "case.link.confirmed", "case.link.rejected"]


def test_manual_link_offsets_ranges_and_refusals(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "L-3")
        step = add_step(s, case, "S1", "investigation", at(9, 0), at(10, 0))
        rec = add_recording(s, start=at(9, 10), seconds=600)
        start, end = resolve_range(rec, "1:30", "0:05:00")
        assert (start, end) == (at(9, 11, 30), at(9, 15))
        assert resolve_range(rec, "2024-05-14T09:12:00+08:00", None)[0] == at(1, 12)
        made = link_manual(
            s,
            rec,
            step,
            start=start,
            end=end,
            proves="statement",
            actor="clerk",
            checklist=RULES,
            ledger=svc.ledger,
        )
        assert (made.range_start, made.range_end, made.status) == (start, end, "confirmed")
        # Defaults to the whole recording.
        whole = link_manual(
            s, rec, step, start=None, end=None, proves=None, actor="clerk", checklist=RULES
        )
        assert (whole.range_start, whole.range_end) == (at(9, 10), at(9, 20))
        # A range that runs past the recording is trimmed to it ...
        past = link_manual(
            s, rec, step, start=at(9, 0), end=at(9, 15), proves=None, actor="c", checklist=RULES
        )
        assert (past.range_start, past.range_end) == (at(9, 10), at(9, 15))
        # ... and only one entirely outside it is refused.
        with pytest.raises(LinkError, match="outside the recording"):
            link_manual(
                s, rec, step, start=at(9, 0), end=at(9, 10), proves=None, actor="c", checklist=RULES
            )
        with pytest.raises(LinkError, match="outside the recording"):
            link_manual(
                s,
                rec,
                step,
                start=at(9, 21),
                end=at(9, 30),
                proves=None,
                actor="c",
                checklist=RULES,
            )
        with pytest.raises(LinkError, match="after"):
            link_manual(
                s,
                rec,
                step,
                start=at(9, 15),
                end=at(9, 12),
                proves=None,
                actor="c",
                checklist=RULES,
            )
        # A few seconds beyond the recording (clock drift) are accepted and cut to it.
        edge = link_manual(
            s,
            rec,
            step,
            start=at(9, 9, 57),
            end=at(9, 20, 2),
            proves=None,
            actor="c",
            checklist=RULES,
        )
        assert (edge.range_start, edge.range_end) == (at(9, 10), at(9, 20))
        untimed = add_recording(s, start=None, seconds=None)
        with pytest.raises(LinkError, match="no capture time"):
            resolve_range(untimed, "90", "120")
        assert untimed.capture_start is None and untimed.duration_s is None


def test_suggestions_need_overlap_media_and_a_free_part(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "L-5")
        seizure = add_step(s, case, "S1", "seizure", at(14, 0), at(14, 30), devices=["DSJ-9"])
        add_step(s, case, "S2", "hearing", at(16, 0), at(16, 30), devices=["DSJ-9"])
        good = add_recording(s, start=at(14, 5), seconds=300, device="DSJ-9")
        # Tagged with the case and the step's kind, but captured an hour after it.
        tagged_late = add_recording(
            s, start=at(15, 30), seconds=60, device="DSJ-9", case_no="L-5", step="seizure"
        )
        not_media = add_recording(s, start=at(14, 5), seconds=None, device="DSJ-9")
        not_media.status, not_media.media_kind, not_media.duration_s = "not-media", "other", 60
        empty = add_recording(s, start=at(14, 5), seconds=60, device="DSJ-9")
        empty.size = 0
        # One long recording: confirmed on S1 for the part inside S1 ...
        long = add_recording(s, start=at(14, 0), seconds=3 * 3600, device="DSJ-9")
        # ... and one confirmed on another case's step for all of it.
        other = add_case(s, "L-6")
        elsewhere_step = add_step(s, other, "X1", "seizure", at(13, 0), at(17, 0))
        taken = add_recording(s, start=at(14, 10), seconds=600, device="DSJ-9")
        s.flush()
        link_manual(
            s, long, seizure, start=None, end=at(14, 30), proves=None, actor="c", checklist=RULES
        )
        link_manual(
            s, taken, elsewhere_step, start=None, end=None, proves=None, actor="c", checklist=RULES
        )
        made = suggest(s, case, RULES, actor="custos")
    pairs = {(m.recording_id, m.step_key) for m in made}
    # `long` is still suggested for S2: that part of it is confirmed nowhere.
    assert pairs == {(good.id, "S1"), (long.id, "S2")}
    assert all(m.basis["overlap_s"] > 0 for m in made)
    for rec in (tagged_late, not_media, empty, taken):
        assert all(m.recording_id != rec.id for m in made)


def test_manual_link_confirms_an_open_suggestion(svc: Services) -> None:
    with svc.db.session() as s:
        case = add_case(s, "L-4")
        step = add_step(s, case, "S1", "seizure", at(9, 0), at(9, 30), devices=["DSJ-01"])
        rec = add_recording(s, start=at(9, 0), seconds=1800 + 60)
        (suggestion,) = suggest(s, case, RULES, actor="custos")
        link = link_manual(
            s,
            rec,
            step,
            start=None,
            end=at(9, 30),
            proves="all of it",
            actor="clerk",
            checklist=RULES,
        )
        assert link.id == suggestion.link_id
        assert link.range_start is not None and link.range_end is not None
        assert link.range_end - link.range_start == timedelta(minutes=30)
        assert s.scalar(select(Link).where(Link.recording_id == rec.id)) is link


def test_lookups_by_the_names_people_use(svc_sqlite: Services) -> None:
    with svc_sqlite.db.session() as s:
        one, two = add_case(s, "R-1"), add_case(s, "R-2")
        a = add_step(s, one, "S1", "seizure", at(9, 0), at(9, 30))
        b = add_step(s, two, "S1", "seizure", at(9, 0), at(9, 30))
        rec = add_recording(s, start=at(9, 0), seconds=60, name="DSJ_1.mp4")
        add_recording(s, start=at(9, 0), seconds=60, name="twin.mp4")
        add_recording(s, start=at(9, 0), seconds=60, name="twin.mp4")
        assert find_step(s, "R-2:S1") is b
        assert find_step(s, "S1", "R-1") is a
        assert find_step(s, str(b.id)) is b
        with pytest.raises(Ambiguous, match="R-1|CASE_NO:S1"):
            find_step(s, "S1")
        with pytest.raises(NotFound):
            find_step(s, "S9", "R-1")
        assert find_recording(s, rec.id) is rec
        assert find_recording(s, rec.sha256[:10].upper()) is rec
        assert find_recording(s, "DSJ_1.mp4") is rec
        with pytest.raises(Ambiguous):
            find_recording(s, "twin.mp4")
        with pytest.raises(NotFound):
            find_recording(s, "nothing.mp4")
