"""A hostile-input corpus, generated (nothing downloaded), each file with its expected outcome.

Every file is one an acquisition service meets from outside: broken recordings, things
pretending to be recordings, playlists and lists that name other resources (a canary file
outside the input and a listening socket on 127.0.0.1, so following them is caught),
archives built to hurt whoever unpacks them, and names built to hurt whoever uses them as
paths or prints them. Custos never unpacks, follows or trusts any of it: each is stored,
hashed and reported with a status and a reason.
"""

from __future__ import annotations

import io
import random
import struct
import subprocess
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

from ingest.sample_dump import make_clip

# Statuses of the receipt (ingest/receipt.py).
STORED, UNPLAYABLE, NOT_MEDIA = "stored", "unplayable", "not-media"
BOMB_BYTES = 256 * 1024 * 1024  # what the zip bomb would unpack to
LONG_NAME_BYTES = 255  # NAME_MAX on Linux filesystems


@dataclass(frozen=True)
class Hostile:
    name: str  # file name (one path component)
    data: bytes
    status: str  # expected receipt status
    reason: str | None  # a substring the reason must contain (None: no reason expected)
    what: str  # what it is, for failure messages


@dataclass(frozen=True)
class Targets:
    """What hostile files point at: nothing may open or connect to them."""

    canary: Path  # a real, playable segment outside the input
    url: str  # http://127.0.0.1:PORT of a recording listener


def _png_bomb(side: int) -> bytes:
    """A valid PNG of `side` x `side` transparent black pixels, 16-bit RGBA: about
    side**2 / 128 bytes that decode to 8 * side**2 (16000: 2 MB on disk, a 2 GB frame;
    ffmpeg itself refuses pictures over about 16384 x 16384).

    Built without compressing gigabytes: after a full flush a deflate stream does not refer
    back, so one compressed band of rows repeats; the zlib trailer is the Adler-32 of zeros.
    """

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    row = 1 + 8 * side  # a filter byte (0: none) and the pixels
    band = 100
    assert side % band == 0
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    repeated = deflate.compress(b"\0" * (row * band)) + deflate.flush(zlib.Z_FULL_FLUSH)
    total = row * side
    adler = ((total % 65521) << 16) | 1
    idat = b"\x78\xda" + repeated * (side // band) + b"\x03\x00" + struct.pack(">I", adler)
    ihdr = struct.pack(">IIBBBBB", side, side, 16, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _zip_bomb() -> bytes:
    """One entry that inflates to BOMB_BYTES of zeros from about 250 KiB."""
    out = io.BytesIO()
    block = b"\0" * (1024 * 1024)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        with archive.open("bomb.bin", "w", force_zip64=True) as entry:
            for _ in range(BOMB_BYTES // len(block)):
                entry.write(block)
    return out.getvalue()


def _zip_slip(evil_name: str) -> bytes:
    """Entries whose names climb out of any folder they are unpacked into."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name in (
            f"../../../../{evil_name}",
            f"..\\..\\..\\{evil_name}",
            f"/tmp/{evil_name}",
            f"ok/../../{evil_name}",
        ):
            info = zipfile.ZipInfo(name)
            archive.writestr(info, b"zip-slip payload\n")
    return out.getvalue()


def _ffmpeg(*args: str) -> None:
    subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", *args],
        check=True,
        timeout=120,
    )


def make_targets(folder: Path, url: str) -> Targets:
    folder.mkdir(parents=True, exist_ok=True)
    canary = folder / "canary.ts"
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x120:r=10:d=1", "-c:v", "libx264",
            "-preset", "ultrafast", str(canary))  # fmt: skip
    return Targets(canary, url)


def _playlist(target: str) -> bytes:
    return (
        f"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXTINF:1.0,\n{target}\n"
        "#EXT-X-ENDLIST\n"
    ).encode()


def build(work: Path, targets: Targets, evil_name: str = "custos-evil.txt") -> list[Hostile]:
    """The corpus as (name, bytes, expected outcome); `work` is scratch for ffmpeg."""
    work.mkdir(parents=True, exist_ok=True)
    rng = random.Random(15)  # the same corpus on every run
    clip = make_clip(work / "clip.mp4", seconds=1.0, faststart=False).read_bytes()
    wide = work / "wide.mkv"
    _ffmpeg("-f", "lavfi", "-i", "color=s=17000x16:r=1:d=1", "-c:v", "ffv1", str(wide))
    streams = work / "streams.mkv"  # 100 audio streams: a decoder and buffers for each
    maps = [arg for _ in range(100) for arg in ("-map", "0:a")]
    _ffmpeg("-f", "lavfi", "-i", "sine=d=0.05", *maps, "-c:a", "pcm_s16le", str(streams))
    canary_uri = targets.canary.as_uri()
    moov = clip.rfind(b"moov")
    assert moov > 0, "the test clip has no moov atom at its end"
    # A recorder name filled to 255 bytes (NAME_MAX), multi-byte characters included.
    long_stem = "BWC0042_20261103141500_" + "录" * 60
    long_stem += "x" * (LONG_NAME_BYTES - len((long_stem + ".MP4").encode()))
    long_name = long_stem + ".MP4"
    assert len(long_name.encode()) == LONG_NAME_BYTES

    def text(n: int) -> bytes:
        return f"hostile name test {n}\n".encode()

    corpus = [
        Hostile(
            "good_20261103_141500.mp4",
            make_clip(work / "good.mp4", 1.0, tone=660).read_bytes(),
            STORED,
            None,
            "a real recording, for contrast",
        ),  # fmt: skip
        Hostile(
            "truncated.mp4",
            clip[: moov - 8],
            UNPLAYABLE,
            "no moov atom",
            "MP4 cut off before its moov atom (battery died)",
        ),  # fmt: skip
        Hostile("empty.mp4", b"", UNPLAYABLE, "empty file", "zero bytes"),
        Hostile(
            "random.mp4",
            rng.randbytes(256 * 1024),
            UNPLAYABLE,
            "not a recognised media format",
            "random bytes named .mp4",
        ),  # fmt: skip
        Hostile(
            "page.mp4",
            b"<!doctype html><html><head><title>x</title></head><body>"
            b"<video src='http://127.0.0.1/x.mp4'></video></body></html>\n",
            UNPLAYABLE,
            "not a recognised media format",
            "HTML named .mp4",
        ),  # fmt: skip
        Hostile(
            "huge.png",
            _png_bomb(16000),
            UNPLAYABLE,
            "cannot be decoded",
            "valid 2 MB PNG of 16000x16000 16-bit RGBA pixels (a 2 GB frame)",
        ),  # fmt: skip
        Hostile(
            "wide.mkv",
            wide.read_bytes(),
            UNPLAYABLE,
            "17000x16",
            "Matroska video stream claiming 17000x16 pixels",
        ),
        Hostile(
            "streams.mkv",
            streams.read_bytes(),
            UNPLAYABLE,
            "100 streams (at most 64)",
            "Matroska with 100 audio streams",
        ),
        Hostile(
            "hls_canary.mp4",
            _playlist(canary_uri),
            UNPLAYABLE,
            "not a recognised media format",
            "HLS playlist naming a file:// canary",
        ),
        Hostile(
            "hls_passwd.mp4",
            _playlist("file:///etc/passwd"),
            UNPLAYABLE,
            "not a recognised media format",
            "HLS playlist naming /etc/passwd",
        ),
        Hostile(
            "hls_local.mp4",
            _playlist(f"{targets.url}/seg0.ts"),
            UNPLAYABLE,
            "not a recognised media format",
            "HLS playlist naming 127.0.0.1",
        ),
        Hostile(
            "hls_local.m3u8",
            _playlist(f"{targets.url}/seg1.ts"),
            NOT_MEDIA,
            "not audio/video",
            "HLS playlist under its own extension",
        ),
        Hostile(
            "relative.m3u8",
            _playlist("../outside/canary.ts"),
            NOT_MEDIA,
            "not audio/video",
            "HLS playlist with a relative path out of the input",
        ),
        Hostile(
            "concat.mp4",
            f"ffconcat version 1.0\nfile '{targets.canary}'\n"
            f"file '{targets.url}/seg2.ts'\nfile '/etc/passwd'\n".encode(),
            UNPLAYABLE,
            "not a recognised media format",
            "concat-demuxer list",
        ),  # fmt: skip
        Hostile(
            "list.ffconcat",
            f"ffconcat version 1.0\nfile '{canary_uri}'\n".encode(),
            NOT_MEDIA,
            "not audio/video",
            "concat list under its own extension",
        ),
        Hostile(
            "bomb.zip",
            _zip_bomb(),
            NOT_MEDIA,
            "attachment",
            f"zip bomb ({BOMB_BYTES >> 20} MiB of zeros inflated)",
        ),
        Hostile(
            "slip.zip",
            _zip_slip(evil_name),
            NOT_MEDIA,
            "attachment",
            "zip-slip entries (../, ..\\, absolute)",
        ),
        Hostile(
            "..\\..\\..\\windows-traversal.txt",
            text(1),
            NOT_MEDIA,
            None,
            "a Windows path climbing out, as one name",
        ),
        Hostile(
            "\x1b[2J\x1b[31mred\x07.txt",
            text(2),
            NOT_MEDIA,
            None,
            "terminal escape sequences and a bell in the name",
        ),
        Hostile(
            "tab\tnew\nline\rcr.txt",
            text(3),
            NOT_MEDIA,
            None,
            "tab, newline and carriage return in the name",
        ),
        Hostile("-rf --help.txt", text(4), NOT_MEDIA, None, "a name that looks like options"),
        Hostile(
            long_name,
            clip[: moov - 8] + b"\0" * 7,
            UNPLAYABLE,
            "no moov atom",
            "a 255-byte name with multi-byte characters",
        ),  # fmt: skip
    ]
    names = [h.name for h in corpus]
    assert len(set(names)) == len(names)
    return corpus


def write(corpus: list[Hostile], folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for item in corpus:
        (folder / item.name).write_bytes(item.data)
