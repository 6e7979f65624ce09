from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.config import Settings
from storage.errors import LedgerError, ObjectLocked
from storage.ledger import (
    GENESIS_HASH,
    checkpoint_message,
    checkpoint_object_key,
    event_hash,
)
from storage.ledger_keys import generate_key, public_key_path
from storage.services import Services

MakeServices = Callable[..., Services]


def _fill(svc: Services, n: int = 5) -> None:
    for i in range(n):
        svc.record("test_event", f"subject-{i}", {"i": i, "text": "证据 evidence"})


def test_intact_chain_verifies(svc: Services) -> None:
    _fill(svc)
    svc.ledger.checkpoint()
    report = svc.ledger.verify()
    assert report.ok, report.problem
    assert report.events == 5 and report.checkpoints == 1


def test_database_refuses_update_and_delete(svc: Services) -> None:
    _fill(svc, 2)
    for statement in ("UPDATE ledger_events SET actor = 'mallory'", "DELETE FROM ledger_events"):
        with pytest.raises(DBAPIError, match="append-only"), svc.db.engine.begin() as conn:
            conn.execute(text(statement))
    assert svc.ledger.verify().ok


def _drop_guards(svc: Services) -> None:
    """What an attacker with database access would do first."""
    with svc.db.engine.begin() as conn:
        if svc.db.dialect == "sqlite":
            for name in ("update", "delete"):
                conn.execute(text(f"DROP TRIGGER ledger_events_no_{name}"))
                conn.execute(text(f"DROP TRIGGER ledger_checkpoints_no_{name}"))
        else:
            conn.execute(text("DROP TRIGGER ledger_events_no_change ON ledger_events"))
            conn.execute(text("DROP TRIGGER ledger_checkpoints_no_change ON ledger_checkpoints"))


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "words"),
    [
        ("UPDATE ledger_events SET details = '{\"i\": 99}' WHERE seq = 3", 3, "altered"),
        ("DELETE FROM ledger_events WHERE seq = 2", 2, "missing"),
        ("UPDATE ledger_events SET actor = 'mallory' WHERE seq = 4", 4, "altered"),
    ],
)
def test_tampering_is_named(svc: Services, tamper: str, bad_seq: int, words: str) -> None:
    _fill(svc)
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text(tamper))
    report = svc.ledger.verify()
    assert not report.ok
    assert report.first_bad_seq == bad_seq
    assert words in (report.problem or "")


def test_reordering_is_detected(svc: Services) -> None:
    _fill(svc)
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        # Swap the contents of events 2 and 3 while keeping their sequence numbers.
        rows = {
            r.seq: r for r in conn.execute(text("SELECT * FROM ledger_events WHERE seq IN (2,3)"))
        }
        conn.execute(text("DELETE FROM ledger_events WHERE seq IN (2,3)"))
        for seq, src in ((2, rows[3]), (3, rows[2])):
            conn.execute(
                text(
                    "INSERT INTO ledger_events (seq, ts, actor, action, subject, details, "
                    "prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :subject, :details, "
                    ":prev_hash, :hash)"
                ),
                {**src._mapping, "seq": seq},
            )
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 2


def test_truncated_tail_is_caught_by_signed_checkpoint(svc: Services) -> None:
    _fill(svc)
    svc.ledger.checkpoint()
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM ledger_events WHERE seq >= 4"))
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 4
    assert "removed" in (report.problem or "")


def test_forged_checkpoint_signature_is_caught(svc: Services) -> None:
    _fill(svc, 3)
    svc.ledger.checkpoint()
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        conn.execute(text("UPDATE ledger_checkpoints SET signature = :s"), {"s": "00" * 64})
    report = svc.ledger.verify()
    assert not report.ok and "signature" in (report.problem or "")


# --- anchoring in the object store: a second trust domain ------------------------------


def _rewrite_from_genesis(
    svc: Services,
    edit: Callable[[dict[str, Any]], dict[str, Any]] = lambda row: row,
    keep: int | None = None,
) -> None:
    """What someone holding the database does: guards off, checkpoints gone, chain recomputed.

    Every event is re-hashed from genesis with the published algorithm, so the chain in
    the database is internally consistent again.
    """
    _drop_guards(svc)
    with svc.db.engine.begin() as conn:
        rows = [
            dict(r._mapping) for r in conn.execute(text("SELECT * FROM ledger_events ORDER BY seq"))
        ]
        conn.execute(text("DELETE FROM ledger_checkpoints"))
        conn.execute(text("DELETE FROM ledger_events"))
        prev = GENESIS_HASH
        for original in rows[:keep]:
            row = edit(dict(original))
            row["prev_hash"] = prev
            row["hash"] = event_hash(
                row["seq"],
                row["ts"],
                row["actor"],
                row["action"],
                row["subject"],
                row["details"],
                prev,
            )
            conn.execute(
                text(
                    "INSERT INTO ledger_events (seq, ts, actor, action, subject, details, "
                    "prev_hash, hash) VALUES (:seq, :ts, :actor, :action, :subject, :details, "
                    ":prev_hash, :hash)"
                ),
                row,
            )
            prev = row["hash"]


def _mallory_at_3(row: dict[str, Any]) -> dict[str, Any]:
    if row["seq"] == 3:
        row["actor"] = "mallory"
    return row


def _two_checkpoints(svc: Services) -> None:
    _fill(svc, 5)
    svc.ledger.checkpoint()
    _fill(svc, 2)
    svc.ledger.checkpoint()


def test_checkpoint_is_anchored_as_a_write_once_object(svc: Services) -> None:
    _fill(svc, 4)
    head = svc.ledger.checkpoint()
    assert head is not None and head.seq == 4
    key = checkpoint_object_key(4)
    assert head.object_key == key == "ledger/checkpoints/00000000000000000004.json"
    body = json.loads(svc.store.get_bytes(key))
    signer = svc.ledger.keys.signer
    assert signer is not None
    assert body["seq"] == 4 and body["hash"] == head.hash == svc.ledger.events()[-1].hash
    assert body["public_key"] == signer.hex and body["key_fingerprint"] == signer.fingerprint
    assert signer.verify(checkpoint_message(4, body["hash"], body["ts"]), body["signature"])
    info = svc.store.stat(key)
    assert info is not None and info.worm and info.retain_until is not None
    with pytest.raises(ObjectLocked):
        svc.store.delete(key)
    # The same head again: nothing new is signed or written.
    assert svc.ledger.checkpoint() == head
    assert svc.ledger.head() == head
    assert list(svc.store.list("ledger/checkpoints/")) == [key]
    report = svc.ledger.verify()
    assert report.ok, report.problem
    assert (report.checkpoints, report.anchors, report.unanchored) == (1, 1, 0)


def test_rewrite_from_genesis_is_caught_by_the_checkpoint_object(svc: Services) -> None:
    _two_checkpoints(svc)
    _rewrite_from_genesis(svc, _mallory_at_3)
    report = svc.ledger.verify()
    assert not report.ok
    assert report.first_bad_seq == 5
    assert checkpoint_object_key(5) in (report.problem or "")
    assert "rewritten" in (report.problem or "")


def test_rewrite_is_caught_even_with_the_key_re_signing_the_rows(svc: Services) -> None:
    """The key used to lie beside the database: whoever took one took both."""
    _two_checkpoints(svc)
    _rewrite_from_genesis(svc, _mallory_at_3)
    signer = svc.ledger.keys.signer
    assert signer is not None
    head = svc.ledger.events()[-1]
    ts = "2026-01-01T00:00:00.000000Z"
    with svc.db.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO ledger_checkpoints (seq, hash, ts, key_id, signature) "
                "VALUES (:seq, :hash, :ts, :key_id, :sig)"
            ),
            {
                "seq": head.seq,
                "hash": head.hash,
                "ts": ts,
                "key_id": signer.key_id,
                "sig": signer.sign(checkpoint_message(head.seq, head.hash, ts)),
            },
        )
    report = svc.ledger.verify()
    assert not report.ok and checkpoint_object_key(5) in (report.problem or "")
    # Signing the forged chain is refused as well: the object at that event holds another hash.
    with pytest.raises(LedgerError, match=checkpoint_object_key(7)):
        svc.ledger.checkpoint()


def test_shortened_rewrite_is_caught_by_the_checkpoint_object(svc: Services) -> None:
    _two_checkpoints(svc)
    _rewrite_from_genesis(svc, keep=6)
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 7
    assert "removed" in (report.problem or "")
    assert checkpoint_object_key(7) in (report.problem or "")


def test_deleted_checkpoint_rows_are_named(svc: Services) -> None:
    _two_checkpoints(svc)
    _rewrite_from_genesis(svc)  # the same events, only the checkpoint rows are gone
    report = svc.ledger.verify()
    assert not report.ok and report.first_bad_seq == 5
    assert checkpoint_object_key(5) in (report.problem or "")
    assert "no matching checkpoint in the database" in (report.problem or "")


def test_missing_key_fails_verify_and_no_new_key_appears(
    make_services: MakeServices, database_url: str
) -> None:
    first = make_services(database_url=database_url)
    _fill(first, 3)
    first.ledger.checkpoint()
    key_file = first.settings.resolved_ledger_key_file
    assert key_file.exists() and key_file.parent == first.settings.data_dir.resolve() / "keys"
    key_file.unlink()
    again = make_services(database_url=database_url)
    report = again.ledger.verify()
    assert not report.ok
    assert "signing key missing" in (report.problem or "") and str(key_file) in (
        report.problem or ""
    )
    assert not key_file.exists()
    # Signing is never skipped: without the key a checkpoint fails, nothing is written.
    _fill(again, 1)
    with pytest.raises(LedgerError, match="signing key missing"):
        again.ledger.checkpoint()
    assert not key_file.exists()
    assert list(again.store.list("ledger/checkpoints/")) == [checkpoint_object_key(3)]


def test_changed_key_fails_verify(make_services: MakeServices, database_url: str) -> None:
    first = make_services(database_url=database_url)
    _fill(first, 3)
    first.ledger.checkpoint()
    old_id = first.ledger.keys.verifier.key_id if first.ledger.keys.verifier else ""
    key_file = first.settings.resolved_ledger_key_file
    key_file.unlink()
    generate_key(key_file)  # a new key in the old one's place
    again = make_services(database_url=database_url)
    # ... and the database's checkpoint rows re-signed with it, so only the objects differ.
    _drop_guards(again)
    signer = again.ledger.keys.signer
    assert signer is not None
    with again.db.engine.begin() as conn:
        for row in list(conn.execute(text("SELECT id, seq, hash, ts FROM ledger_checkpoints"))):
            conn.execute(
                text("UPDATE ledger_checkpoints SET signature = :s, key_id = :k WHERE id = :i"),
                {
                    "s": signer.sign(checkpoint_message(row.seq, row.hash, row.ts)),
                    "k": signer.key_id,
                    "i": row.id,
                },
            )
    report = again.ledger.verify()
    assert not report.ok
    problem = report.problem or ""
    assert "key changed" in problem and checkpoint_object_key(3) in problem
    assert old_id in problem and signer.key_id in problem


def test_forged_checkpoint_object_signature_is_caught(svc: Services) -> None:
    _fill(svc, 3)
    svc.ledger.checkpoint()
    path = svc.store.local_file(checkpoint_object_key(3))
    assert path is not None
    body = json.loads(path.read_text())
    body["signature"] = "00" * 64
    path.chmod(0o644)
    path.write_text(json.dumps(body))
    report = svc.ledger.verify()
    assert not report.ok and "bad signature" in (report.problem or "")
    assert checkpoint_object_key(3) in (report.problem or "")


def test_key_kept_away_from_the_database_host(
    make_services: MakeServices, database_url: str, tmp_path: Path
) -> None:
    """An encrypted key on a mount of its own signs; a verify-only host holds the public key."""
    key_file = tmp_path / "key-mount" / "ledger.pem"
    signing = make_services(
        database_url=database_url, ledger_key_file=key_file, ledger_key_passphrase="correct horse"
    )
    assert key_file.exists() and b"ENCRYPTED" in key_file.read_bytes()
    assert not (signing.settings.data_dir / "keys").exists()
    _fill(signing, 3)
    head = signing.ledger.checkpoint()
    assert head is not None
    signer = signing.ledger.keys.signer
    assert signer is not None
    assert public_key_path(key_file).read_bytes() == signer.pem()

    wrong = make_services(
        database_url=database_url, ledger_key_file=key_file, ledger_key_passphrase="wrong"
    )
    with pytest.raises(LedgerError, match="passphrase"):
        wrong.ledger.checkpoint()
    assert not wrong.ledger.verify().ok

    for public in (signer.hex, str(public_key_path(key_file))):
        verifier = make_services(
            database_url=database_url,
            data_dir=signing.settings.data_dir,
            ledger_key_file=tmp_path / "not-mounted.pem",
            ledger_public_key=public,
        )
        report = verifier.ledger.verify()
        assert report.ok, report.problem
        assert report.anchors == 1
        with pytest.raises(LedgerError, match="not sign"):
            verifier.ledger.checkpoint()
    assert not (tmp_path / "not-mounted.pem").exists()

    other = generate_key(tmp_path / "other.pem")
    stranger = make_services(
        database_url=database_url,
        ledger_key_file=tmp_path / "not-mounted.pem",
        ledger_public_key=other.hex,
    )
    report = stranger.ledger.verify()
    assert not report.ok and "key changed" in (report.problem or "")


def test_new_ledger_gets_a_key_once(make_services: MakeServices) -> None:
    svc = make_services()
    key_file = svc.settings.resolved_ledger_key_file
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert svc.ledger.verify().ok  # empty ledger, key present
    key_file.unlink()
    # No events yet, but a caller that must not create keys (verify, keygen) does not.
    blank = Services.open(Settings(data_dir=svc.settings.data_dir), create_key=False)
    try:
        report = blank.ledger.verify()
        assert not report.ok and "signing key missing" in (report.problem or "")
    finally:
        blank.close()
    assert not key_file.exists()


def test_checkpoint_rows_from_before_anchoring_are_anchored_later(svc: Services) -> None:
    _fill(svc, 3)
    svc.ledger.checkpoint()
    # A checkpoint row made before checkpoints were anchored has no object.
    path = svc.store.local_file(checkpoint_object_key(3))
    assert path is not None
    path.unlink()
    report = svc.ledger.verify()
    assert report.ok and report.unanchored == 1 and report.anchors == 0
    head = svc.ledger.head()
    assert head is not None and head.object_key is None
    anchored = svc.ledger.checkpoint()
    assert anchored is not None and anchored.object_key == checkpoint_object_key(3)
    report = svc.ledger.verify()
    assert report.ok and (report.checkpoints, report.anchors, report.unanchored) == (1, 1, 0)


def test_checkpoint_objects_on_s3_with_object_lock(make_services: MakeServices) -> None:
    """On S3/MinIO the server itself keeps the checkpoint objects: retention, no overwrite."""
    import io

    from storage.errors import ObjectExists
    from tests.storage.s3_server import moto_s3_server

    with moto_s3_server() as endpoint:
        svc = make_services(
            object_store="s3",
            s3_endpoint=endpoint,
            s3_access_key="testing",
            s3_secret_key="testing",
            s3_region="us-east-1",
            s3_bucket="custos-ledger",
        )
        _two_checkpoints(svc)
        key = checkpoint_object_key(5)
        info = svc.store.stat(key)
        assert info is not None and info.worm and info.retain_until is not None
        with pytest.raises(ObjectLocked):
            svc.store.delete(key)
        with pytest.raises(ObjectExists):
            svc.store.put(key, io.BytesIO(b"{}"), worm=True)
        report = svc.ledger.verify()
        assert report.ok and report.anchors == 2, report.problem
        _rewrite_from_genesis(svc, _mallory_at_3)
        report = svc.ledger.verify()
        assert not report.ok and key in (report.problem or "")
