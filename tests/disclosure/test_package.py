"""Export packages: built from real files, verified offline, refused when anything changed."""

from __future__ import annotations

import base64
import json
import shutil
import stat
import subprocess
import tempfile
import uuid
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import bagit
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from typer.testing import CliRunner

from api.cli import app
from disclosure.exports import (
    ExportError,
    get_export,
    list_exports,
    record_export,
    store_package,
    withdraw,
    write_revocations,
)
from disclosure.package import (
    PackageContents,
    PackageError,
    PackageInfo,
    RevocationError,
    build_package,
    load_revocations,
    verify_package,
)
from storage.config import Settings, get_settings
from storage.ledger_keys import SigningKey
from storage.services import Services
from tests.factories import add_recording
from tests.needs import unavailable

VTT = "WEBVTT\n\n00:00.000 --> 00:00.400\nmy number is [redacted]\n"
PAYLOAD = (
    "data/custody.json",
    "data/media/video.mp4",
    "data/redaction-log.json",
    "data/transcripts/stream-1.vtt",
)


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("ffmpeg") is None:
        unavailable("ffmpeg not installed")
    path = tmp_path_factory.mktemp("clip") / "video.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
         "testsrc=size=96x64:rate=10", "-t", "0.6", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


@pytest.fixture
def key() -> SigningKey:
    return SigningKey(Ed25519PrivateKey.generate())


def make_contents(clip: Path, recording_id: str = "rec-0001", **fields: object) -> PackageContents:
    values: dict[str, object] = {
        "export_id": str(uuid.uuid4()),
        "recording_id": recording_id,
        "case_no": "C-2024-17",
        "purpose": "public",
        "recipient": "Press office 新闻办",
        "exported_by": "officer li",
        "exported_at": datetime(2024, 6, 1, 9, 30, 15, tzinfo=UTC),
        "media": [("video.mp4", clip)],
        "texts": {"stream-1.vtt": VTT},
        "redaction_log": [
            {
                "what": "face track 3",
                "where": [10, 10, 40, 40],
                "when": [0.0, 0.6],
                "who": "officer li",
                "why": "bystander privacy",
            },
        ],
        "custody": {"original": {"sha256": "ab" * 32, "size": 123}, "derivatives": []},
    }
    values.update(fields)
    return PackageContents(**values)  # type: ignore[arg-type]


@pytest.fixture
def built(clip: Path, key: SigningKey, tmp_path: Path) -> PackageInfo:
    return build_package(make_contents(clip), key, tmp_path / "out" / "package.zip")


def rewrite(
    src: Path,
    dst: Path,
    change: Callable[[str, bytes], bytes | None] = lambda _name, data: data,
    extra: tuple[tuple[zipfile.ZipInfo, bytes], ...] = (),
) -> Path:
    """Copy a zip member by member (`change` may alter or drop one), keeping its comment."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(src) as old, zipfile.ZipFile(dst, "w") as new:
        new.comment = old.comment
        for info in old.infolist():
            rel = info.filename.split("/", 1)[1]
            data = change(rel, old.read(info))
            if data is not None:
                new.writestr(info, data)
        for info, data in extra:
            with warnings.catch_warnings():  # a duplicate name is one of the attacks
                warnings.simplefilter("ignore", UserWarning)
                new.writestr(info, data)
    return dst


def flip(data: bytes, at: int | None = None) -> bytes:
    i = len(data) // 2 if at is None else at
    return data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]


# -- building and verifying ----------------------------------------------------------------


def test_package_verifies_and_is_a_plain_signed_bag(
    built: PackageInfo, key: SigningKey, clip: Path, tmp_path: Path
) -> None:
    result = verify_package(built.path, key.public)
    assert result.ok, result.problems
    assert result.export_id == built.export_id and result.recording_id == "rec-0001"
    assert result.files == 4 and result.sha256 == built.sha256
    assert result.info["Custos-Purpose"] == "public"
    assert result.info["Custos-Recipient"] == "Press office 新闻办"
    assert result.info["Custos-Case-Number"] == "C-2024-17"
    assert result.info["Custos-Exported-At"] == "2024-06-01T09:30:15Z"
    assert result.info["Custos-Key-Fingerprint"] == key.fingerprint

    # Deterministic: one folder, fixed order, every member stored; same input, same zip.
    with zipfile.ZipFile(built.path) as zf:
        names = [i.filename.split("/", 1)[1] for i in zf.infolist()]
        assert {i.filename.split("/", 1)[0] for i in zf.infolist()} == {
            f"custos-export-{built.export_id}"
        }
        assert names == ["bagit.txt", *PAYLOAD, "bag-info.txt", "manifest-sha256.txt",
                         "tagmanifest-sha256.txt", "signature.ed25519"]  # fmt: skip
        assert {i.date_time for i in zf.infolist()} == {(2024, 6, 1, 9, 30, 14)}
        zf.extractall(tmp_path / "plain")
    again = build_package(
        replace(make_contents(clip), export_id=built.export_id), key, tmp_path / "again.zip"
    )
    assert again.sha256 == built.sha256

    # Anyone can check it without Custos: the bagit library and a bare Ed25519 verifier.
    bag_dir = tmp_path / "plain" / f"custos-export-{built.export_id}"
    assert bagit.Bag(str(bag_dir)).validate()
    assert (bag_dir / "data" / "media" / "video.mp4").read_bytes() == clip.read_bytes()
    signed = (bag_dir / "tagmanifest-sha256.txt").read_bytes()
    signature = base64.b64decode((bag_dir / "signature.ed25519").read_text())
    Ed25519PublicKey.from_public_bytes(bytes.fromhex(key.hex)).verify(signature, signed)
    custody = json.loads((bag_dir / "data" / "custody.json").read_text())
    assert custody["original"]["sha256"] == "ab" * 32


@pytest.mark.parametrize("member", PAYLOAD)
def test_changed_payload_file_is_named(
    built: PackageInfo, key: SigningKey, tmp_path: Path, member: str
) -> None:
    altered = rewrite(
        built.path, tmp_path / "altered.zip", lambda rel, d: flip(d) if rel == member else d
    )
    result = verify_package(altered, key.public)
    assert not result.ok
    assert result.problems[0].startswith(f"{member}: "), result.problems
    assert "altered" in result.problems[0]


def test_flipped_byte_anywhere_in_the_zip_fails(
    built: PackageInfo, key: SigningKey, tmp_path: Path
) -> None:
    raw = built.path.read_bytes()
    with zipfile.ZipFile(built.path) as zf:
        media = next(i for i in zf.infolist() if i.filename.endswith("video.mp4"))
        first = zf.infolist()[0]
        central = zf.start_dir
    media_data = media.header_offset + 30 + len(media.filename.encode()) + len(media.extra)
    offsets = {
        "media bytes": media_data + media.file_size // 2,
        "local header timestamp": first.header_offset + 10,
        "central directory attributes": central + 38,
        "zip comment (signature)": len(raw) - 5,
        "last byte": len(raw) - 1,
    }
    for where, offset in offsets.items():
        altered = tmp_path / "flipped.zip"
        altered.write_bytes(flip(raw, offset))
        result = verify_package(altered, key.public)
        assert not result.ok, where
        if where == "media bytes":
            assert result.problems[0].startswith("data/media/video.mp4: "), result.problems


@pytest.mark.parametrize("member", ["signature.ed25519", "tagmanifest-sha256.txt"])
def test_changed_signature_or_tag_manifest_fails(
    built: PackageInfo, key: SigningKey, tmp_path: Path, member: str
) -> None:
    def change(rel: str, data: bytes) -> bytes:
        if rel != member:
            return data
        if member == "signature.ed25519":  # another valid base64 signature, one bit off
            return base64.b64encode(flip(base64.b64decode(data))) + b"\n"
        return flip(data, 3)

    result = verify_package(rewrite(built.path, tmp_path / "altered.zip", change), key.public)
    assert not result.ok
    assert result.problems[0].startswith("signature.ed25519: does not verify"), result.problems


def test_wrong_public_key_fails(built: PackageInfo, tmp_path: Path) -> None:
    other = SigningKey(Ed25519PrivateKey.generate())
    result = verify_package(built.path, other.public)
    assert not result.ok
    assert result.problems[0].startswith("signature.ed25519: does not verify with key")
    assert "the package names key" in result.problems[0]
    assert any("zip container signature" in p for p in result.problems)


def _member(name: str, mode: int = stat.S_IFREG | 0o644) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=(2024, 6, 1, 0, 0, 0))
    info.create_system = 3
    info.external_attr = mode << 16
    return info


@pytest.mark.parametrize(
    "name",
    ["../evil.txt", "{root}/../../evil.txt", "/tmp/evil.txt", "{root}/data/../../evil.txt",
     "{root}\\..\\evil.txt", "{root}/data/media/video.mp4"],
)  # fmt: skip
def test_unsafe_member_names_are_refused_before_extraction(
    built: PackageInfo,
    key: SigningKey,
    tmp_path: Path,
    name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (tmp_path / "tmp").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))  # extraction lands here
    root = f"custos-export-{built.export_id}"
    evil = _member(name.format(root=root))
    bad = rewrite(built.path, tmp_path / "work" / "bad.zip", extra=((evil, b"pwned"),))
    result = verify_package(bad, key.public)
    assert not result.ok
    assert "unsafe member" in result.problems[0], result.problems
    assert repr(evil.filename) in result.problems[0]
    assert not list(tmp_path.rglob("evil.txt"))


def test_link_member_is_refused(built: PackageInfo, key: SigningKey, tmp_path: Path) -> None:
    root = f"custos-export-{built.export_id}"
    link = _member(f"{root}/data/link", stat.S_IFLNK | 0o777)
    bad = rewrite(built.path, tmp_path / "bad.zip", extra=((link, b"/etc/passwd"),))
    result = verify_package(bad, key.public)
    assert not result.ok and "link or a special file" in result.problems[0]


def test_added_or_removed_files_are_named(
    built: PackageInfo, key: SigningKey, tmp_path: Path
) -> None:
    root = f"custos-export-{built.export_id}"
    added = rewrite(
        built.path,
        tmp_path / "added.zip",
        extra=(
            (_member(f"{root}/data/media/extra.mp4"), b"more"),
            (_member(f"{root}/README.txt"), b"trust me"),
        ),
    )
    problems = verify_package(added, key.public).problems
    assert any(p.startswith("data/media/extra.mp4: ") for p in problems), problems
    assert any(p.startswith("README.txt: is not listed") for p in problems), problems

    def drop_vtt(rel: str, data: bytes) -> bytes | None:
        return None if rel == "data/transcripts/stream-1.vtt" else data

    removed = rewrite(built.path, tmp_path / "removed.zip", drop_vtt)
    problems = verify_package(removed, key.public).problems
    assert problems[0].startswith("data/transcripts/stream-1.vtt: "), problems


def test_not_a_zip_is_invalid_and_missing_file_raises(key: SigningKey, tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip at all" * 10)
    result = verify_package(junk, key.public)
    assert not result.ok and "not a readable zip" in result.problems[0]
    with pytest.raises(FileNotFoundError):
        verify_package(tmp_path / "absent.zip", key.public)


def test_contents_are_checked(clip: Path) -> None:
    with pytest.raises(PackageError, match="plain file name"):
        make_contents(clip, media=[("../video.mp4", clip)])
    with pytest.raises(PackageError, match="plain file name"):
        make_contents(clip, texts={"sub/x.vtt": VTT})
    with pytest.raises(PackageError, match="same name"):
        make_contents(clip, media=[("a.mp4", clip), ("A.mp4", clip)])
    with pytest.raises(PackageError, match="timezone-aware"):
        make_contents(clip, exported_at=datetime(2024, 1, 1))
    with pytest.raises(PackageError, match="purpose"):
        make_contents(clip, purpose="press")
    with pytest.raises(PackageError, match="UUID"):
        make_contents(clip, export_id="../../etc")


def test_line_break_in_a_field_is_refused(clip: Path, key: SigningKey, tmp_path: Path) -> None:
    contents = make_contents(clip, recipient="someone\nCustos-Purpose: court")
    with pytest.raises(PackageError, match="line breaks"):
        build_package(contents, key, tmp_path / "x.zip")
    assert not list(tmp_path.glob("*"))


# -- recording, withdrawal, revocation lists, the commands ---------------------------------


@pytest.fixture
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Services]:
    data = tmp_path / "data"
    monkeypatch.setenv("CUSTOS_DATA_DIR", str(data))
    monkeypatch.setenv("CUSTOS_ACTOR", "disclosure officer")
    get_settings.cache_clear()
    svc = Services.open(Settings(data_dir=data, actor="disclosure officer"))
    yield svc
    svc.close()
    get_settings.cache_clear()


def custos(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def _export(svc: Services, clip: Path, out: Path) -> PackageInfo:
    recording = add_recording(svc, clip.read_bytes() + out.name.encode())
    contents = make_contents(clip, recording, exported_at=datetime.now(UTC))
    info = build_package(contents, svc.ledger.keys.require_signer(), out)
    key = store_package(svc.store, info)
    assert store_package(svc.store, info) == key  # the same bytes again: a no-op
    svc.db.run(lambda s: record_export(s, svc.ledger, info, contents, 2, object_key=key))
    return info


def test_withdrawn_export_fails_against_the_revocation_list(
    deployment: Services, clip: Path, tmp_path: Path
) -> None:
    svc = deployment
    kept = _export(svc, clip, tmp_path / "kept.zip")
    pulled = _export(svc, clip, tmp_path / "pulled.zip")
    assert svc.store.get_bytes(f"exports/{pulled.export_id}.zip") == pulled.path.read_bytes()

    listed = json.loads(custos("exports", "--json"))
    assert [(e["id"], e["withdrawn"]) for e in listed] == [
        (kept.export_id, False),
        (pulled.export_id, False),
    ]
    assert all(e["recording_id"] and e["plan_version"] == 2 for e in listed)

    custos("withdraw", pulled.export_id, "--reason", "decision revoked on review")
    out = custos("withdraw", pulled.export_id, "--reason", "again", code=1)
    assert "already withdrawn" in out
    assert "no export" in custos("withdraw", str(uuid.uuid4()), "--reason", "x", code=1)
    listed = json.loads(custos("exports", "--json"))
    assert [e["withdrawn"] for e in listed] == [False, True]
    assert listed[1]["withdraw_reason"] == "decision revoked on review"
    assert listed[1]["withdrawn_by"] == "disclosure officer"
    assert pulled.export_id in custos("exports")

    revocations = tmp_path / "published" / "revocations.json"
    custos("revocations", "--out", str(revocations))
    document = json.loads(revocations.read_text())
    assert [e["export_id"] for e in document["withdrawn"]] == [pulled.export_id]

    out = custos("verify", str(pulled.path), "--revocations", str(revocations), code=1)
    assert "withdrawn" in out and "decision revoked on review" in out
    out = custos("verify", str(kept.path), "--revocations", str(revocations))
    assert "package valid" in out and "not withdrawn" in out
    custos("verify", str(pulled.path))  # without the list it is still a genuine package

    public = svc.ledger.keys.require_signer().hex
    result = json.loads(
        custos("verify", str(kept.path), "--key", public, "--revocations", str(revocations),
               "--json")
    )  # fmt: skip
    assert result["ok"] and result["export_id"] == kept.export_id
    other = SigningKey(Ed25519PrivateKey.generate()).hex
    assert "signature.ed25519" in custos("verify", str(kept.path), "--key", other, code=1)
    custos("verify", str(tmp_path / "absent.zip"), code=2)
    custos("verify", str(kept.path), "--revocations", str(tmp_path / "absent.json"), code=2)
    custos("verify", str(kept.path), "--key", "not a key", code=2)

    # A list altered after signing (the withdrawal taken out) is refused, not trusted.
    document["withdrawn"] = []
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(document))
    out = custos("verify", str(pulled.path), "--revocations", str(forged), code=1)
    assert "signature does not verify" in out
    out = custos("verify", str(kept.path), "--revocations", str(forged), code=1)

    actions = [e.action for e in svc.ledger.events(listed[1]["recording_id"])]
    assert actions[-2:] == ["disclosure.exported", "disclosure.withdrawn"]
    custos("ledger", "verify")


def test_exports_withdrawal_and_revocations_on_each_database(
    svc: Services, clip: Path, tmp_path: Path
) -> None:
    info = _export(svc, clip, tmp_path / "one.zip")
    with pytest.raises(ExportError, match="reason"):
        svc.db.run(lambda s: withdraw(s, svc.ledger, info.export_id, "x", "  "))
    with svc.db.session() as session:
        record = get_export(session, info.export_id)
        assert record is not None and not record.withdrawn
        assert record.sha256 == info.sha256 and record.size == info.size
        assert record.object_key == f"exports/{info.export_id}.zip"
        assert [r.id for r in list_exports(session, record.recording_id)] == [info.export_id]
        contents = make_contents(clip, record.recording_id, export_id=info.export_id)
        with pytest.raises(ExportError, match="already recorded"):
            record_export(session, svc.ledger, info, contents, 2, object_key="exports/x.zip")
    done = svc.db.run(lambda s: withdraw(s, svc.ledger, info.export_id, "clerk", "revoked"))
    assert done.withdrawn and done.withdrawn_by == "clerk"
    with pytest.raises(ExportError, match="already withdrawn"):
        svc.db.run(lambda s: withdraw(s, svc.ledger, info.export_id, "clerk", "again"))
    key = svc.ledger.keys.require_signer()
    out = tmp_path / "revocations.json"
    with svc.db.session() as session:
        written = write_revocations(session, key, out)
    loaded = load_revocations(out, key.public)
    assert loaded.entries == written.entries
    assert [(e.export_id, e.reason, e.sha256) for e in loaded.entries] == [
        (info.export_id, "revoked", info.sha256)
    ]
    result = verify_package(info.path, key.public, out)
    assert not result.ok and result.withdrawn is not None
    assert result.problems == [result.problems[0]] and "withdrawn" in result.problems[0]
    other = SigningKey(Ed25519PrivateKey.generate())
    with pytest.raises(RevocationError, match="signature"):
        load_revocations(out, other.public)
