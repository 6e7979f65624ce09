"""Small real PDFs for the written-record tests, written byte by byte.

Each page holds lines of text in a text layer: Latin lines in Helvetica, Chinese lines in
a Type0 font (Identity-H) with a ToUnicode map, which is how a PDF exported by an office
suite carries its Chinese text. No font is embedded: the text layer, not the look, is
what is tested. A page may instead be an image only (a scan, no text layer).
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _content(lines: Sequence[str]) -> bytes:
    ops = ["BT", "14 TL", "50 780 Td"]
    for line in lines:
        if all(ord(ch) < 128 for ch in line):
            ops.append(f"/F1 12 Tf ({_escape(line)}) Tj T*")
        else:
            hexed = "".join(f"{ord(ch):04X}" for ch in line)
            ops.append(f"/F2 12 Tf <{hexed}> Tj T*")
    ops.append("ET")
    return "\n".join(ops).encode()


def _to_unicode(chars: set[str]) -> bytes:
    pairs = "\n".join(f"<{ord(c):04X}> <{ord(c):04X}>" for c in sorted(chars))
    return (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
        "/CMapName /Adobe-Identity-UCS def /CMapType 2 def\n"
        "1 begincodespacerange <0000> <FFFF> endcodespacerange\n"
        f"{len(chars)} beginbfchar\n{pairs}\nendbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end"
    ).encode()


@dataclass(frozen=True)
class Scan:
    """A scanned page: 8-bit grey pixels, row by row."""

    width: int
    height: int
    pixels: bytes


def make_pdf(pages: Sequence[Sequence[str] | Scan | None]) -> bytes:
    """A PDF whose pages hold these lines; a Scan: that image and no text; None: a blank
    grey image and no text."""
    objects: list[bytes] = []

    def add(body: bytes) -> int:
        objects.append(body)
        return len(objects)

    def stream(data: bytes, extra: str = "") -> bytes:
        packed = zlib.compress(data)
        head = f"<< /Length {len(packed)} /Filter /FlateDecode {extra}>>\nstream\n".encode()
        return head + packed + b"\nendstream"

    texts = [p for p in pages if p is not None and not isinstance(p, Scan)]
    chars = {ch for page in texts for line in page for ch in line if ord(ch) >= 128}
    f1 = add(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    cmap = add(stream(_to_unicode(chars or {"a"})))
    cid = add(
        b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /SimSun /CIDToGIDMap /Identity "
        b"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
        b"/FontDescriptor << /Type /FontDescriptor /FontName /SimSun /Flags 4 "
        b"/FontBBox [0 -200 1000 900] /ItalicAngle 0 /Ascent 900 /Descent -200 "
        b"/CapHeight 700 /StemV 80 >> /DW 1000 >>"
    )
    f2 = add(
        f"<< /Type /Font /Subtype /Type0 /BaseFont /SimSun /Encoding /Identity-H "
        f"/DescendantFonts [{cid} 0 R] /ToUnicode {cmap} 0 R >>".encode()
    )
    image = add(stream(bytes([200]) * (40 * 40), "/Type /XObject /Subtype /Image /Width 40 "
                       "/Height 40 /ColorSpace /DeviceGray /BitsPerComponent 8 "))  # fmt: skip
    scans = [p for p in pages if isinstance(p, Scan)]
    pages_id = len(objects) + 1 + 2 * len(pages) + len(scans)
    kids = []
    for page in pages:
        picture = image
        if isinstance(page, Scan):
            picture = add(
                stream(
                    page.pixels,
                    f"/Type /XObject /Subtype /Image /Width {page.width} /Height {page.height} "
                    "/ColorSpace /DeviceGray /BitsPerComponent 8 ",
                )
            )
        if page is None or isinstance(page, Scan):
            content = b"q 500 0 0 700 50 50 cm /Im1 Do Q"
        else:
            content = _content(page)
        c = add(stream(content))
        kids.append(
            add(
                f"<< /Type /Page /Parent {pages_id} 0 R /MediaBox [0 0 595 842] "
                f"/Resources << /Font << /F1 {f1} 0 R /F2 {f2} 0 R >> "
                f"/XObject << /Im1 {picture} 0 R >> >> /Contents {c} 0 R >>".encode()
            )
        )
    refs = " ".join(f"{k} 0 R" for k in kids)
    assert add(f"<< /Type /Pages /Kids [{refs}] /Count {len(kids)} >>".encode()) == pages_id
    root = add(f"<< /Type /Catalog /Pages {pages_id} 0 R >>".encode())
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root {root} 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
