"""Export packages: a zipped BagIt bag of one disclosure, signed, verifiable offline.

Every member lies under one folder, `custos-export-<export id>/`:

    bagit.txt                    BagIt 1.0, UTF-8
    data/custody.json            the original's digests, the derivative chain with digests,
                                 the ledger events of the recording, the ledger head and its
                                 signed checkpoint
    data/media/<name>            redacted media
    data/redaction-log.json      every redaction item: what, where, when, who, why
    data/transcripts/<name>      redacted transcripts (WebVTT, SRT, text)
    bag-info.txt                 case number, purpose, recipient, who exported and when, the
                                 recording and export ids, the signing key's fingerprint
    manifest-sha256.txt          every payload file
    tagmanifest-sha256.txt       bagit.txt, bag-info.txt, manifest-sha256.txt
    signature.ed25519            Ed25519 signature of tagmanifest-sha256.txt, base64

Two signatures by the ledger key. `signature.ed25519` chains through the tag manifest and
the manifest to every file: anyone can check it with the `bagit` tool and any Ed25519
verifier, knowing only the public key. The zip comment holds a second signature over every
byte of the zip before the comment, so a byte changed in the container itself (a header,
a timestamp, the central directory) is found as well, not only one in a file's contents.

Members are stored uncompressed (media is compressed already), in a fixed order, with the
export time as their timestamp: the same contents and key give the same zip.

`verify_package` needs only the zip and the public key (and optionally a signed revocation
list, `load_revocations`): member names are checked before anything is extracted (no
absolute paths, no `..`, no links, no duplicates, one bag folder), then the bag is
validated with `bagit`, every file must be covered by a manifest, and both signatures must
verify. Problems name the failing member or signature first.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import shutil
import stat
import struct
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any, Literal, get_args

import bagit

from disclosure.errors import DisclosureError
from storage.ledger import canonical_json
from storage.ledger_keys import PublicKey, SigningKey

logging.getLogger("bagit").addHandler(logging.NullHandler())  # problems are returned, not logged

Purpose = Literal["public", "party", "court"]
PURPOSES: tuple[str, ...] = get_args(Purpose)

PACKAGE_FORMAT = "custos-export/1"
REVOCATIONS_FORMAT = "custos-revocations/1"
SIGNATURE_FILE = "signature.ed25519"
TAGMANIFEST = "tagmanifest-sha256.txt"
MANIFEST = "manifest-sha256.txt"
BAGIT_TXT = "bagit.txt"
BAG_INFO = "bag-info.txt"
CUSTODY_FILE = "data/custody.json"
REDACTION_LOG_FILE = "data/redaction-log.json"
MEDIA_DIR = "data/media"
TEXTS_DIR = "data/transcripts"

_ZIP_SIG_PREFIX = b"custos-zip-signature/1 "
_ZIP_SIG_LEN = len(_ZIP_SIG_PREFIX) + 88  # base64 of a 64-byte Ed25519 signature
_EOCD = struct.Struct("<4s4H2LH")  # end of central directory record, without its comment
_CHUNK = 1024 * 1024
# One path component: letters/digits first, then letters, digits, space and . _ - ( ) + ,
_NAME = re.compile(r"^\w[\w .()+,-]{0,199}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PackageError(DisclosureError):
    """A package that cannot be built as asked (bad names, fields, or a failed self-check)."""


class RevocationError(DisclosureError):
    """A revocation list that cannot be trusted: unreadable, malformed or not signed by the key."""


@dataclass(frozen=True)
class PackageContents:
    """Everything that goes into one export package; `build_package` writes it."""

    export_id: str  # a UUID; also the bag's External-Identifier and the zip's folder name
    recording_id: str
    case_no: str | None
    purpose: Purpose
    recipient: str
    exported_by: str
    exported_at: datetime  # timezone-aware
    media: list[tuple[str, Path]]  # (name in data/media/, file): redacted media
    texts: dict[str, str]  # name in data/transcripts/ -> content
    redaction_log: list[dict[str, Any]]  # data/redaction-log.json
    custody: dict[str, Any]  # data/custody.json
    source_organization: str | None = None  # bag-info Source-Organization
    description: str | None = None  # bag-info External-Description (a default is written)

    def __post_init__(self) -> None:
        try:
            canonical = str(uuid.UUID(self.export_id))
        except ValueError as exc:
            raise PackageError(f"export id {self.export_id!r} is not a UUID") from exc
        if canonical != self.export_id:
            raise PackageError(f"export id {self.export_id!r} is not a lower-case UUID")
        if self.purpose not in PURPOSES:
            raise PackageError(f"purpose {self.purpose!r} is not one of {', '.join(PURPOSES)}")
        if self.exported_at.tzinfo is None:
            raise PackageError("exported_at must be timezone-aware")
        for what, value in (
            ("recording id", self.recording_id),
            ("recipient", self.recipient),
            ("exported by", self.exported_by),
        ):
            if not value.strip():
                raise PackageError(f"{what} is empty")
        names = [name for name, _ in self.media]
        for what, group in (("media", names), ("transcript", list(self.texts))):
            for name in group:
                if not _NAME.match(name) or name != name.strip():
                    raise PackageError(
                        f"{what} name {name!r} is not a plain file name "
                        "(letters, digits, space and . _ - ( ) + , only; no folders)"
                    )
            folded = [unicodedata.normalize("NFC", n).casefold() for n in group]
            if len(set(folded)) != len(folded):
                raise PackageError(f"two {what} files have the same name: {sorted(group)}")

    @property
    def bag_name(self) -> str:
        return f"custos-export-{self.export_id}"


@dataclass(frozen=True)
class PackageInfo:
    export_id: str
    path: Path
    sha256: str  # of the whole zip
    tagmanifest_sha256: str  # of tagmanifest-sha256.txt, the file signature.ed25519 signs
    size: int  # bytes of the zip
    files: int  # payload files
    key_fingerprint: str  # SHA-256 of the raw public key that signed it


@dataclass(frozen=True)
class Revocation:
    export_id: str
    recording_id: str
    withdrawn_at: str  # ISO 8601, UTC
    reason: str
    sha256: str  # of the withdrawn zip

    def to_json(self) -> dict[str, str]:
        return {
            "export_id": self.export_id,
            "recording_id": self.recording_id,
            "withdrawn_at": self.withdrawn_at,
            "reason": self.reason,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class RevocationList:
    issued_at: str  # ISO 8601, UTC: a verifier can tell how fresh the list is
    key_fingerprint: str
    entries: tuple[Revocation, ...]

    def find(self, export_id: str | None, sha256: str | None) -> Revocation | None:
        for entry in self.entries:
            if entry.export_id == export_id or (sha256 and entry.sha256 == sha256):
                return entry
        return None


@dataclass
class VerifyResult:
    ok: bool
    problems: list[str]  # the first names the first member or signature that fails
    export_id: str | None
    recording_id: str | None
    sha256: str | None = None  # of the zip file
    files: int = 0  # payload files found
    info: dict[str, str] = field(default_factory=dict)  # bag-info.txt
    withdrawn: Revocation | None = None
    revocations_issued_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": self.problems,
            "export_id": self.export_id,
            "recording_id": self.recording_id,
            "sha256": self.sha256,
            "files": self.files,
            "info": self.info,
            "withdrawn": None if self.withdrawn is None else self.withdrawn.to_json(),
            "revocations_issued_at": self.revocations_issued_at,
        }


def iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# -- building ----------------------------------------------------------------------------


def build_package(contents: PackageContents, key: SigningKey, out_zip: Path) -> PackageInfo:
    """Write the signed package to `out_zip` (replaced atomically) and check it verifies.

    The zip is written beside `out_zip` and renamed into place only after
    `verify_package` accepted it with the key's public half.
    """
    out_zip = out_zip.resolve()
    out_zip.parent.mkdir(parents=True, exist_ok=True)
    partial = out_zip.with_name(f".{out_zip.name}.{uuid.uuid4().hex}.partial")
    try:
        info = _write_package(contents, key, partial)
        check = verify_package(partial, key.public)
        if not check.ok:
            raise PackageError(f"the package just built does not verify: {check.problems[0]}")
        os.replace(partial, out_zip)
    finally:
        partial.unlink(missing_ok=True)
    return PackageInfo(
        export_id=info.export_id,
        path=out_zip,
        sha256=info.sha256,
        tagmanifest_sha256=info.tagmanifest_sha256,
        size=info.size,
        files=info.files,
        key_fingerprint=info.key_fingerprint,
    )


def _json_default(value: object) -> object:
    if isinstance(value, datetime):
        return iso_utc(value) if value.tzinfo is not None else value.isoformat()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _json_bytes(value: object) -> bytes:
    text = json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=_json_default)
    return (text + "\n").encode("utf-8")


def _tag_value(name: str, value: str) -> str:
    value = value.strip()
    if _CONTROL.search(value):
        raise PackageError(f"bag-info {name}: line breaks and control characters not allowed")
    return value


def _bag_info(contents: PackageContents, key: SigningKey, oxum: str) -> bytes:
    exported_at = iso_utc(contents.exported_at)
    description = contents.description or (
        f"Redacted {contents.purpose} disclosure of recording {contents.recording_id}"
        + (f" (case {contents.case_no})" if contents.case_no else "")
    )
    fields: list[tuple[str, str | None]] = [
        ("Source-Organization", contents.source_organization),
        ("Contact-Name", contents.exported_by),
        ("External-Description", description),
        ("External-Identifier", contents.export_id),
        ("Bag-Group-Identifier", contents.case_no),
        ("Bagging-Date", exported_at[:10]),
        ("Bag-Software-Agent", f"Custos ({PACKAGE_FORMAT})"),
        ("Payload-Oxum", oxum),
        ("Custos-Package-Format", PACKAGE_FORMAT),
        ("Custos-Export-Id", contents.export_id),
        ("Custos-Recording-Id", contents.recording_id),
        ("Custos-Case-Number", contents.case_no),
        ("Custos-Purpose", contents.purpose),
        ("Custos-Recipient", contents.recipient),
        ("Custos-Exported-By", contents.exported_by),
        ("Custos-Exported-At", exported_at),
        ("Custos-Key-Id", key.key_id),
        ("Custos-Key-Fingerprint", key.fingerprint),
        ("Custos-Signature-File", SIGNATURE_FILE),
    ]
    lines = [f"{name}: {_tag_value(name, value)}\n" for name, value in fields if value]
    return "".join(lines).encode("utf-8")


def _zinfo(name: str, when: tuple[int, int, int, int, int, int], size: int) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=when)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3  # unix, so the mode below is meaningful everywhere
    info.external_attr = (stat.S_IFREG | 0o644) << 16
    info.file_size = size
    return info


def _zip_message(body_sha256: str) -> bytes:
    return f"{PACKAGE_FORMAT} zip sha256={body_sha256}".encode()


def _write_package(contents: PackageContents, key: SigningKey, path: Path) -> PackageInfo:
    root = contents.bag_name
    when_utc = contents.exported_at.astimezone(UTC)
    when = (
        max(when_utc.year, 1980),
        when_utc.month,
        when_utc.day,
        when_utc.hour,
        when_utc.minute,
        when_utc.second,
    )
    blobs: dict[str, bytes] = {
        CUSTODY_FILE: _json_bytes(contents.custody),
        REDACTION_LOG_FILE: _json_bytes(contents.redaction_log),
    }
    for name, text in contents.texts.items():
        blobs[f"{TEXTS_DIR}/{name}"] = text.encode("utf-8")
    files: dict[str, Path] = {f"{MEDIA_DIR}/{name}": source for name, source in contents.media}
    digests: dict[str, str] = {}
    total = 0
    bagit_txt = b"BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n"
    with path.open("w+b") as handle:
        with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as zf:
            zf.comment = b"\0" * _ZIP_SIG_LEN  # replaced by the signature below
            zf.writestr(_zinfo(f"{root}/{BAGIT_TXT}", when, len(bagit_txt)), bagit_txt)
            for rel in sorted([*blobs, *files]):
                if rel in blobs:
                    data = blobs[rel]
                    zf.writestr(_zinfo(f"{root}/{rel}", when, len(data)), data)
                    digests[rel] = hashlib.sha256(data).hexdigest()
                    total += len(data)
                else:
                    digest, size = _copy_into(zf, files[rel], _zinfo(f"{root}/{rel}", when, 0))
                    digests[rel] = digest
                    total += size
            oxum = f"{total}.{len(digests)}"
            tags: dict[str, bytes] = {
                BAGIT_TXT: bagit_txt,
                BAG_INFO: _bag_info(contents, key, oxum),
                MANIFEST: "".join(f"{digests[rel]}  {rel}\n" for rel in sorted(digests)).encode(),
            }
            tagmanifest = "".join(
                f"{hashlib.sha256(tags[name]).hexdigest()}  {name}\n" for name in sorted(tags)
            ).encode()
            signature = base64.b64encode(bytes.fromhex(key.sign(tagmanifest))) + b"\n"
            for name, data in (
                (BAG_INFO, tags[BAG_INFO]),
                (MANIFEST, tags[MANIFEST]),
                (TAGMANIFEST, tagmanifest),
                (SIGNATURE_FILE, signature),
            ):
                zf.writestr(_zinfo(f"{root}/{name}", when, len(data)), data)
        handle.flush()
        size = handle.seek(0, os.SEEK_END)
        body = hashlib.sha256()
        handle.seek(0)
        remaining = size - _ZIP_SIG_LEN
        while remaining > 0:
            chunk = handle.read(min(_CHUNK, remaining))
            body.update(chunk)
            remaining -= len(chunk)
        signed = bytes.fromhex(key.sign(_zip_message(body.hexdigest())))
        comment = _ZIP_SIG_PREFIX + base64.b64encode(signed)
        if len(comment) != _ZIP_SIG_LEN:
            raise AssertionError("zip signature comment has the wrong length")
        handle.seek(size - _ZIP_SIG_LEN)
        handle.write(comment)
        handle.flush()
        os.fsync(handle.fileno())
    whole = body.copy()
    whole.update(comment)
    return PackageInfo(
        export_id=contents.export_id,
        path=path,
        sha256=whole.hexdigest(),
        tagmanifest_sha256=hashlib.sha256(tagmanifest).hexdigest(),
        size=size,
        files=len(digests),
        key_fingerprint=key.fingerprint,
    )


def _copy_into(zf: zipfile.ZipFile, source: Path, info: zipfile.ZipInfo) -> tuple[str, int]:
    """Stream `source` into the zip, hashing the same bytes; (sha256, size)."""
    try:
        expected = source.stat().st_size
        handle = source.open("rb")
    except OSError as exc:
        raise PackageError(f"media file {source} cannot be read: {exc}") from exc
    info.file_size = expected  # decides ZIP64 before the first byte is written
    digest = hashlib.sha256()
    size = 0
    with handle, zf.open(info, "w") as out:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
            size += len(chunk)
    if size != expected:
        raise PackageError(f"media file {source} changed while it was packaged")
    return digest.hexdigest(), size


# -- revocation lists --------------------------------------------------------------------


def sign_revocations(
    entries: Iterable[Revocation], key: SigningKey, issued_at: datetime | None = None
) -> bytes:
    """The signed revocation list as JSON bytes; the signature covers the canonical JSON of
    every other field."""
    body: dict[str, Any] = {
        "format": REVOCATIONS_FORMAT,
        "issued_at": iso_utc(issued_at or datetime.now(UTC)),
        "key_id": key.key_id,
        "key_fingerprint": key.fingerprint,
        "withdrawn": [e.to_json() for e in sorted(entries, key=lambda e: e.export_id)],
    }
    signature = bytes.fromhex(key.sign(canonical_json(body).encode("utf-8")))
    body["signature"] = base64.b64encode(signature).decode()
    return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


def load_revocations(path: Path, public_key: PublicKey) -> RevocationList:
    """Read a revocation list and check its signature; RevocationError when it cannot be
    trusted. OSError (a missing file) passes through."""
    data = path.read_bytes()
    try:
        body = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RevocationError(f"revocation list {path} is not JSON: {exc}") from exc
    if not isinstance(body, dict) or body.get("format") != REVOCATIONS_FORMAT:
        raise RevocationError(f"revocation list {path} is not a {REVOCATIONS_FORMAT} document")
    signature = body.pop("signature", None)
    if not isinstance(signature, str) or not public_key.verify(
        canonical_json(body).encode("utf-8"), _b64_hex(signature)
    ):
        raise RevocationError(
            f"revocation list {path}: signature does not verify with key {public_key.key_id}"
        )
    try:
        entries = tuple(
            Revocation(
                export_id=str(e["export_id"]),
                recording_id=str(e["recording_id"]),
                withdrawn_at=str(e["withdrawn_at"]),
                reason=str(e["reason"]),
                sha256=str(e["sha256"]),
            )
            for e in body["withdrawn"]
        )
        return RevocationList(str(body["issued_at"]), str(body["key_fingerprint"]), entries)
    except (KeyError, TypeError) as exc:
        raise RevocationError(f"revocation list {path} is malformed: {exc}") from exc


def _b64_hex(text: str) -> str:
    """Strict base64 to hex; an empty string (which never verifies) when it is not base64."""
    try:
        return base64.b64decode(text.strip(), validate=True).hex()
    except (binascii.Error, ValueError):
        return ""


# -- verification ------------------------------------------------------------------------


class _Problems:
    """Problems in the order found, one per member: the first names what failed first."""

    def __init__(self) -> None:
        self.items: list[str] = []
        self._named: set[str] = set()

    def add(self, member: str | None, message: str) -> None:
        if member is not None:
            if member in self._named:
                return
            self._named.add(member)
            self.items.append(f"{member}: {message}")
        else:
            self.items.append(message)


def verify_package(
    zip_path: Path, public_key: PublicKey, revocations: Path | None = None
) -> VerifyResult:
    """Check a package offline with the public key (and a revocation list when given).

    FileNotFoundError when `zip_path` or `revocations` does not exist; every other fault
    is a problem in the result.
    """
    if not zip_path.is_file():
        raise FileNotFoundError(f"no such package: {zip_path}")
    revoked: RevocationList | None = None
    revocation_problem: str | None = None
    if revocations is not None:
        if not revocations.is_file():
            raise FileNotFoundError(f"no such revocation list: {revocations}")
        try:
            revoked = load_revocations(revocations, public_key)
        except RevocationError as exc:
            revocation_problem = str(exc)
    problems = _Problems()
    result = VerifyResult(ok=False, problems=problems.items, export_id=None, recording_id=None)
    container_problem, result.sha256 = _check_container(zip_path, public_key)
    with tempfile.TemporaryDirectory(prefix="custos-verify-") as tmp:
        root = Path(tmp) / "bag"
        if _extract(zip_path, root, problems):
            _check_bag(root, public_key, problems, result)
    if container_problem:
        problems.add(None, container_problem)
    if revocation_problem:
        problems.add(None, revocation_problem)
    elif revoked is not None:
        result.revocations_issued_at = revoked.issued_at
        entry = revoked.find(result.export_id, result.sha256)
        if entry is not None:
            result.withdrawn = entry
            problems.add(
                None,
                f"export {entry.export_id} was withdrawn at {entry.withdrawn_at}: {entry.reason} "
                f"(revocation list issued {revoked.issued_at})",
            )
    result.ok = not problems.items
    return result


def _check_container(path: Path, public_key: PublicKey) -> tuple[str | None, str]:
    """(problem or None, sha256 of the file): the zip comment signs every byte before it."""
    whole = hashlib.sha256()
    body = hashlib.sha256()
    size = path.stat().st_size
    tail = b""
    with path.open("rb") as handle:
        remaining = size - _ZIP_SIG_LEN
        while chunk := handle.read(_CHUNK):
            whole.update(chunk)
            if remaining > 0:
                body.update(chunk[:remaining])
            remaining -= len(chunk)
        if size >= _ZIP_SIG_LEN + _EOCD.size:
            handle.seek(size - _ZIP_SIG_LEN - _EOCD.size)
            tail = handle.read()
    digest = whole.hexdigest()
    name = path.name
    if len(tail) != _ZIP_SIG_LEN + _EOCD.size:
        return f"{name}: too short to be a signed package", digest
    record = _EOCD.unpack(tail[: _EOCD.size])
    comment = tail[_EOCD.size :]
    if record[0] != b"PK\x05\x06" or record[-1] != _ZIP_SIG_LEN:
        return f"{name}: the zip does not end with a Custos signature (altered or foreign)", digest
    if not comment.startswith(_ZIP_SIG_PREFIX):
        return f"{name}: the zip comment is not a Custos signature", digest
    signature = _b64_hex(comment[len(_ZIP_SIG_PREFIX) :].decode("ascii", "replace"))
    if not public_key.verify(_zip_message(body.hexdigest()), signature):
        return (
            f"{name}: zip container signature does not verify with key {public_key.key_id} "
            "(bytes of the zip were changed, or another key signed it)",
            digest,
        )
    return None, digest


def _unsafe(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    if info.orig_filename != name:
        return "has a NUL byte in its name"
    if _CONTROL.search(name):
        return "has a control character in its name"
    if name.startswith("/") or "\\" in name or re.match(r"^[A-Za-z]:", name):
        return "is an absolute path"
    parts = name.rstrip("/").split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "climbs out of the package or has an empty path component"
    kind = stat.S_IFMT(info.external_attr >> 16)
    if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        return "is a link or a special file"
    if info.flag_bits & 0x1:
        return "is encrypted"
    return None


def _extract(path: Path, root: Path, problems: _Problems) -> bool:
    """Extract the bag folder into `root`; False (with problems) when it is unsafe to go on."""
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        problems.add(path.name, f"not a readable zip ({exc})")
        return False
    with zf:
        infos = zf.infolist()
        seen: set[str] = set()
        tops: set[str] = set()
        unsafe = False
        for info in infos:
            why = _unsafe(info)
            key = unicodedata.normalize("NFC", info.filename.rstrip("/")).casefold()
            if why is None and key in seen:
                why = "appears twice"
            if why is not None:
                problems.add(repr(info.orig_filename), f"unsafe member ({why}); nothing extracted")
                unsafe = True
                continue
            seen.add(key)
            parts = PurePosixPath(info.filename).parts
            tops.add(parts[0])
            if len(parts) == 1 and not info.is_dir():
                problems.add(info.filename, "lies outside the bag folder; nothing extracted")
                unsafe = True
        if unsafe:
            return False
        if len(tops) != 1:
            problems.add(path.name, f"holds {len(tops)} top-level folders, not one bag")
            return False
        root.mkdir(parents=True)
        needed = sum(info.file_size for info in infos)
        if needed > shutil.disk_usage(root).free:
            raise OSError(f"{needed} bytes of temporary space needed to verify {path.name}")
        resolved = root.resolve()
        for info in infos:
            parts = PurePosixPath(info.filename).parts[1:]
            if info.is_dir() or not parts:
                continue
            member = "/".join(parts)
            target = root.joinpath(*parts)
            if not target.resolve().is_relative_to(resolved):  # belt and braces
                problems.add(member, "would be written outside the package folder")
                return False
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, target.open("xb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
                problems.add(member, f"cannot be read from the zip: {exc} (altered)")
            except RuntimeError as exc:  # encrypted, or similar
                problems.add(member, f"cannot be read from the zip: {exc}")
            except FileExistsError:
                problems.add(member, "appears twice")
    return True


def _read(root: Path, name: str) -> bytes | None:
    try:
        return (root / name).read_bytes()
    except OSError:
        return None


def _check_bag(
    root: Path, public_key: PublicKey, problems: _Problems, result: VerifyResult
) -> None:
    try:
        bag = bagit.Bag(str(root))
    except bagit.BagError as exc:
        problems.add(None, f"not a valid bag: {exc}")
        return
    info = {
        str(k): v if isinstance(v, str) else "; ".join(map(str, v)) for k, v in bag.info.items()
    }
    result.info = info
    result.export_id = info.get("External-Identifier") or info.get("Custos-Export-Id")
    result.recording_id = info.get("Custos-Recording-Id")

    _check_signature(root, public_key, info, problems)

    for required in (BAG_INFO, MANIFEST, TAGMANIFEST, CUSTODY_FILE, REDACTION_LOG_FILE):
        if not (root / required).is_file():
            problems.add(required, "missing")
    for name in ("External-Identifier", "Custos-Recording-Id", "Custos-Purpose"):
        if name not in info:
            problems.add(BAG_INFO, f"has no {name}")
    if info.get("Custos-Export-Id", result.export_id) != result.export_id:
        problems.add(BAG_INFO, "External-Identifier and Custos-Export-Id differ")
    algorithms = sorted(str(a) for a in bag.algorithms)
    if algorithms != ["sha256"]:
        problems.add(None, f"manifests for {algorithms}: only sha256 manifests are accepted")
    entries: dict[str, Any] = bag.entries
    covered = {str(p).replace(os.sep, "/") for p in entries}
    for name in (BAGIT_TXT, BAG_INFO, MANIFEST):
        if name not in covered:
            problems.add(TAGMANIFEST, f"does not cover {name}")
    on_disk = sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() or p.is_symlink()
    )
    result.files = sum(1 for p in on_disk if p.startswith("data/"))
    for rel in on_disk:
        if rel not in covered and rel not in (TAGMANIFEST, SIGNATURE_FILE):
            problems.add(rel, "is not listed in any manifest")

    try:
        bag.validate(processes=1)
    except bagit.BagValidationError as exc:
        details: Sequence[Any] = exc.details
        if details:
            ordered = sorted(details, key=lambda d: str(getattr(d, "path", "")).startswith("data"))
            for detail in ordered:
                path = getattr(detail, "path", None)
                problems.add(None if path is None else str(path), _detail(detail))
        else:
            _name_changed_files(root, entries, problems)
            problems.add(None, f"bag does not validate: {exc}")
    except bagit.BagError as exc:
        problems.add(None, f"bag does not validate: {exc}")


def _detail(detail: object) -> str:
    if isinstance(detail, bagit.ChecksumMismatch):
        return f"sha256 {detail.found} does not match the manifest's {detail.expected} (altered)"
    if isinstance(detail, bagit.FileMissing):
        return "listed in the manifest but missing"
    if isinstance(detail, bagit.UnexpectedFile):
        return "is not listed in any manifest"
    return str(detail)


def _name_changed_files(root: Path, entries: dict[str, Any], problems: _Problems) -> None:
    """bagit stops at Payload-Oxum without naming a file; hash each one to name it."""
    for rel in sorted(entries, key=lambda p: str(p).startswith("data")):
        expected = entries[rel].get("sha256")
        digest = hashlib.sha256()
        try:
            with (root / rel).open("rb") as handle:
                while chunk := handle.read(_CHUNK):
                    digest.update(chunk)
        except OSError:
            problems.add(str(rel), "listed in the manifest but missing")
            continue
        if expected is not None and digest.hexdigest() != str(expected).lower():
            problems.add(str(rel), "sha256 does not match the manifest (altered)")


def _check_signature(
    root: Path, public_key: PublicKey, info: dict[str, str], problems: _Problems
) -> None:
    signed = _read(root, TAGMANIFEST)
    signature = _read(root, SIGNATURE_FILE)
    if signature is None:
        problems.add(SIGNATURE_FILE, "missing: the package is not signed")
        return
    if signed is None:
        problems.add(SIGNATURE_FILE, f"{TAGMANIFEST} is missing, nothing to verify")
        return
    if public_key.verify(signed, _b64_hex(signature.decode("ascii", "replace"))):
        return
    named = info.get("Custos-Key-Fingerprint")
    if named and named != public_key.fingerprint:
        problems.add(
            SIGNATURE_FILE,
            f"does not verify with key {public_key.key_id} (fingerprint "
            f"{public_key.fingerprint}); the package names key {named}",
        )
    else:
        problems.add(
            SIGNATURE_FILE,
            f"does not verify: {TAGMANIFEST} or the signature was altered "
            f"(key {public_key.key_id})",
        )
