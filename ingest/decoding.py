"""What a landed file is byte-wise: its content hash and, for text files, its encoding and line
ends; and a UTF-8 copy with one kind of line end when DuckDB cannot read the file as it is.

The encoding of a text file, in this order: a byte-order mark says it (UTF-8, UTF-16, UTF-32, as
spreadsheet tools and PowerShell write); else the layout declares it (`meta: {encoding: ...}` on
the dbt source or table); else valid UTF-8 is UTF-8; else a file whose lines with non-ASCII
characters are mostly valid UTF-8 is UTF-8 with some undecodable rows (they are quarantined);
else it is read as Windows-1252 (a superset of Latin-1's printable characters, what Western
Windows tools write).
charset-normalizer was tried for the last step and named Windows-1252 files 'cp1250' (Central
European), which turns Å into Ĺ and ñ into ń: a wrong guess is worse than a declared default.
"""

from __future__ import annotations

import codecs
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CHUNK_BYTES = 1 << 20
FALLBACK_ENCODING = "cp1252"
# Longest first: the UTF-32 LE mark starts with the UTF-16 LE one.
BYTE_ORDER_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_NUL_BYTES = (
    "the file has NUL bytes but is neither UTF-8 nor UTF-16 (UTF-32 without a byte-order mark, "
    "or binary?): save it as UTF-8, or declare its encoding in the source's layout "
    "(meta: {encoding: ...})"
)


def _c1_controls(error: UnicodeDecodeError) -> tuple[str, int]:
    """The five bytes Windows-1252 leaves undefined decode as Latin-1 does (as browsers do)."""
    return error.object[error.start : error.end].decode("latin-1"), error.end


codecs.register_error("cif_latin1", _c1_controls)


@dataclass(frozen=True)
class FileFacts:
    content_hash: str
    encoding: str = "utf-8"
    detected_by: str = "valid UTF-8"
    bom: bytes = b""
    mixed_line_ends: bool = False
    unreadable: str | None = None  # why the file cannot be decoded at all

    @property
    def readable_as_is(self) -> bool:
        """DuckDB reads UTF-8 without a byte-order mark and with one kind of line end."""
        return self.encoding == "utf-8" and not self.bom and not self.mixed_line_ends

    @property
    def label(self) -> str:
        """The encoding and how it was found, for meta.load_batches."""
        return f"{self.encoding} ({self.detected_by})"


@dataclass
class _Scan:
    """What one pass over the bytes saw."""

    head: bytes = b""
    valid_utf8: bool = True
    crlf: int = 0
    lf: int = 0


def file_digest(path: Path) -> tuple[str, int]:
    """sha256 (hex) and size in bytes of a file: the content hash that says a landed file was
    loaded before (and an export file's checksum). Hashing alone reads the 1M demo's 1.3 GB
    landing zone in about 1.2 s, where inspect_file takes about 5 s."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest(), path.stat().st_size


def inspect_file(
    path: Path, text: bool, declared: str | None = None, content_hash: str | None = None
) -> FileFacts:
    """A file's hash (`content_hash` when the caller has it: ingest hashes every landed file
    first to skip the loaded ones) and, for a text file, its encoding and line ends."""
    content_hash = content_hash or file_digest(path)[0]
    if not text:
        return FileFacts(content_hash, detected_by="binary")
    scan = _scan(path)
    mixed = 0 < scan.crlf < scan.lf
    for mark, encoding in BYTE_ORDER_MARKS:
        if scan.head.startswith(mark):
            return FileFacts(content_hash, encoding, "byte-order mark", mark, mixed)
    if declared:
        return FileFacts(content_hash, declared, "declared in the layout", b"", mixed)
    if scan.valid_utf8:
        return FileFacts(content_hash, "utf-8", "valid UTF-8", b"", mixed)
    if b"\x00" in scan.head:
        encoding = _utf16_without_mark(scan.head)
        if encoding is None:
            return FileFacts(content_hash, "unknown", "NUL bytes", unreadable=_NUL_BYTES)
        return FileFacts(content_hash, encoding, "NUL bytes without a byte-order mark")
    if _mostly_utf8(path):
        return FileFacts(content_hash, "utf-8", "UTF-8 with undecodable rows", b"", mixed)
    return FileFacts(content_hash, FALLBACK_ENCODING, "not UTF-8: the fallback", b"", mixed)


def _scan(path: Path) -> _Scan:
    scan = _Scan()
    decoder = codecs.getincrementaldecoder("utf-8")()
    carried_cr = False
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            scan.head = scan.head or chunk[:4096]
            if scan.valid_utf8:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    scan.valid_utf8 = False
            scan.crlf += chunk.count(b"\r\n") + (carried_cr and chunk.startswith(b"\n"))
            scan.lf += chunk.count(b"\n")
            carried_cr = chunk.endswith(b"\r")
    if scan.valid_utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            scan.valid_utf8 = False
    return scan


def _utf16_without_mark(head: bytes) -> str | None:
    """UTF-16 without a byte-order mark: NULs beside ASCII characters tell the byte order."""
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    encoding = "utf-16-le" if odd > even else "utf-16-be"
    sample = head[: len(head) // 2 * 2].decode(encoding, errors="replace")
    if "\x00" in sample or "\ufffd" in sample[:-1]:  # the last may be half a pair
        return None
    return encoding


def _mostly_utf8(path: Path) -> bool:
    """At least as many lines with non-ASCII characters decode as UTF-8 as fail to: a UTF-8
    file with a few rows pasted from elsewhere. A Windows-1252 line rarely decodes ('é' then a
    curly quote is no UTF-8 sequence), and one that fails anywhere counts as failing."""
    good = bad = 0
    for line in _lines(path):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            good += 1
        except UnicodeDecodeError:
            bad += 1
    return good >= bad and good > 0


def _lines(path: Path) -> Iterator[bytes]:
    carried = b""
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(CHUNK_BYTES), b""):
            lines = (carried + chunk).split(b"\n")
            carried = lines.pop()
            yield from lines
    yield carried


def utf8_copy(path: Path, facts: FileFacts, folder: Path) -> Path:
    """A copy of a text file in UTF-8, without byte-order mark, with LF line ends only.

    A UTF-8 file is copied byte for byte (bytes that are not UTF-8 stay, so that DuckDB
    quarantines just their rows); any other encoding is decoded, and a byte it cannot decode
    fails the file with a message naming the encoding."""
    target = folder / (path.stem + ".utf8" + path.suffix)
    if facts.encoding == "utf-8":
        _copy_bytes(path, target, len(facts.bom))
        return target
    errors = "cif_latin1" if facts.encoding == FALLBACK_ENCODING else "strict"
    decoder = codecs.getincrementaldecoder(facts.encoding)(errors=errors)
    offset = len(facts.bom)
    carried = ""
    with path.open("rb") as source, target.open("w", encoding="utf-8", newline="") as out:
        source.seek(offset)
        try:
            for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
                carried = _write_lf(out, carried + decoder.decode(chunk))
                offset += len(chunk)
            out.write(carried + decoder.decode(b"", final=True))
        except UnicodeDecodeError as exc:
            raise ValueError(
                f"{path.name} is not valid {facts.encoding} ({facts.detected_by}): "
                f"{exc.reason} at byte {offset + exc.start}"
            ) from None
    return target


def _write_lf(out, text: str) -> str:
    """Write text with CRLF turned into LF; returns a trailing CR held back for the next chunk."""
    held = "\r" if text.endswith("\r") else ""
    out.write(text[: len(text) - len(held)].replace("\r\n", "\n"))
    return held


def _copy_bytes(path: Path, target: Path, skip: int) -> None:
    with path.open("rb") as source, target.open("wb") as out:
        source.seek(skip)
        carried = b""
        for chunk in iter(lambda: source.read(CHUNK_BYTES), b""):
            chunk = carried + chunk
            carried = b"\r" if chunk.endswith(b"\r") else b""
            out.write(chunk[: len(chunk) - len(carried)].replace(b"\r\n", b"\n"))
        out.write(carried)
