"""Recognise media by content (magic bytes), not by file name.

Only the head of the stream is needed; ingest passes the first chunk it already
read for hashing, so sniffing costs no extra I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

# Extensions that claim to be media: a file named like this whose bytes are not
# media is reported as unplayable rather than as an unrelated document.
MEDIA_EXTENSIONS = frozenset(
    ".mp4 .m4v .mov .3gp .avi .mkv .webm .mpg .mpeg .ts .mts .m2ts .vob .flv .wmv .asf "
    ".dav .h264 .264 .h265 .265 .hevc .mp3 .wav .m4a .aac .amr .flac .ogg .opus .wma .jpg "
    ".jpeg .png".split()
)


@dataclass(frozen=True)
class Sniff:
    kind: str  # video | audio | image | other | empty
    format: str | None  # a short name of the container/codec family, when known


def _ftyp_kind(head: bytes) -> Sniff:
    brand = head[8:12].decode("latin-1", "replace")
    if brand in ("M4A ", "M4B ", "M4P "):
        return Sniff("audio", "mp4")
    if brand.startswith("qt"):
        return Sniff("video", "mov")
    if brand.startswith("3g"):
        return Sniff("video", "3gp")
    if brand in ("heic", "heix", "mif1", "avif"):
        return Sniff("image", brand.strip())
    return Sniff("video", "mp4")


def sniff(head: bytes) -> Sniff:
    """Classify a file from its first bytes (64 KiB are plenty)."""
    if not head:
        return Sniff("empty", None)
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return _ftyp_kind(head)
    if len(head) >= 8 and head[4:8] in (b"moov", b"mdat", b"wide", b"free", b"skip"):
        return Sniff("video", "mov")
    if head.startswith(b"RIFF") and len(head) >= 12:
        sub = head[8:12]
        if sub == b"AVI ":
            return Sniff("video", "avi")
        if sub == b"WAVE":
            return Sniff("audio", "wav")
        if sub == b"WEBP":
            return Sniff("image", "webp")
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return Sniff("video", "matroska")
    if head.startswith(b"\x00\x00\x01\xba"):
        return Sniff("video", "mpeg-ps")
    if head.startswith((b"\x00\x00\x01\xb3", b"\x00\x00\x01\xb0")):
        return Sniff("video", "mpeg-es")
    if head[:1] == b"\x47" and len(head) > 376 and head[188] == 0x47 and head[376] == 0x47:
        return Sniff("video", "mpegts")
    if len(head) > 196 and head[4] == 0x47 and head[196] == 0x47:
        return Sniff("video", "m2ts")  # 192-byte packets (AVCHD .mts)
    if head.startswith(b"FLV"):
        return Sniff("video", "flv")
    if head.startswith(b"\x30\x26\xb2\x75\x8e\x66\xcf\x11"):
        return Sniff("video", "asf")
    if head.startswith(b"DHAV"):
        return Sniff("video", "dahua-dav")
    if head.startswith(b"IMKH"):
        return Sniff("video", "hikvision-ps")
    if head.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01")) and _annexb_nal(head):
        return Sniff("video", "h264-annexb")
    if head.startswith(b"fLaC"):
        return Sniff("audio", "flac")
    if head.startswith(b"OggS"):
        return Sniff("audio", "ogg")
    if head.startswith(b"#!AMR"):
        return Sniff("audio", "amr")
    if head.startswith(b"ID3"):
        return Sniff("audio", "mp3")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return Sniff("audio", "aac-adts")
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return Sniff("audio", "mpeg-audio")
    if head.startswith(b"\xff\xd8\xff"):
        return Sniff("image", "jpeg")
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return Sniff("image", "png")
    return Sniff("other", None)


def _annexb_nal(head: bytes) -> bool:
    start = 4 if head.startswith(b"\x00\x00\x00\x01") else 3
    if len(head) <= start:
        return False
    nal = head[start]
    h264_type = nal & 0x1F
    h265_type = (nal >> 1) & 0x3F
    return (nal & 0x80 == 0 and h264_type in (6, 7, 9)) or h265_type in (32, 33, 35, 39)
