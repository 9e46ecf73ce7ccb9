"""Text files made safe for DuckDB's readers: NULs and deep nesting refused, mixed encodings decoded.

Before the importer hands a CSV or JSON file to DuckDB, the whole file is read once, in
chunks, with C-speed searches only (``bytes.find``, ``bytes.translate``, numpy), so a
clean file costs milliseconds:

- a NUL byte anywhere is refused (binary data, or a broken export that would be stored
  silently);
- JSON and JSON Lines nested deeper than :data:`MAX_JSON_DEPTH` levels of brackets are
  refused, counted here without parsing: thousands of levels crash DuckDB's JSON reader
  (and Python's ``json`` raises ``RecursionError``), and reading a stored version back
  doubles in time with each level of lists beyond about 16 (0.08 s at 16, 2.9 s at 24);
- a file that is not valid UTF-8 throughout is decoded line by line: UTF-8 where a line is
  valid, Windows-1252 or Latin-1 where it is not, and :class:`Decoded` lists the lines
  read the other way. A UTF-16 file (with its byte order mark) is converted whole.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.errors import InvalidInputError

CHUNK_BYTES = 1 << 22
MAX_JSON_DEPTH = 16
MAX_LISTED_LINES = 20
_NOT_STRUCTURAL = bytes(b for b in range(256) if b not in b'[]{}"')
_C1_BYTES = re.compile(rb"[\x80-\x9f]")
# Bytes that were not UTF-8, as surrogateescape writes them; the first high byte of each line.
_ESCAPED = re.compile("[\udc80-\udcff]")
_NON_ASCII_LINE = re.compile(rb"(?m)^[^\n\x80-\xff]*[\x80-\xff]")
_STEPS = np.zeros(256, dtype=np.int8)
_STEPS[list(b"[{")] = 1
_STEPS[list(b"]}")] = -1


@dataclass(frozen=True)
class Decoded:
    """How a text file was decoded to UTF-8.

    ``encoding`` is the file's encoding: ``utf-8`` (also when only some lines were), or the
    single-byte encoding every line beyond ASCII was in. ``lines`` are the first line
    numbers (from 1) read with ``fallback`` in a file that is otherwise UTF-8, and
    ``line_count`` how many there were in all.
    """

    encoding: str = "utf-8"
    fallback: str = ""
    lines: tuple[int, ...] = ()
    line_count: int = 0

    def finding(self) -> str | None:
        """The sentence for the import's findings, or None when there is nothing to say."""
        if self.encoding not in ("utf-8", "ascii"):
            return f"Read as {self.encoding} and converted to UTF-8."
        if not self.line_count:
            return None
        listed = ", ".join(str(n) for n in self.lines)
        more = (
            f" and {self.line_count - len(self.lines)} more"
            if self.line_count > len(self.lines)
            else ""
        )
        return (
            f"{self.line_count} line(s) were not valid UTF-8 and were read as {self.fallback} "
            f"(line {listed}{more}); the rest is UTF-8."
        )


def readable_text(file: Path, scratch: Path, *, json: bool) -> tuple[Path, Decoded]:
    """``file`` as a UTF-8 file DuckDB may read (itself when it already is), and how it was decoded.

    Raises :class:`InvalidInputError` for a NUL byte anywhere, or (when ``json``) nesting
    deeper than :data:`MAX_JSON_DEPTH`.
    """
    with file.open("rb") as handle:
        head = handle.read(4)
    source, decoded = file, Decoded()
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        source, decoded = scratch / f"utf16{file.suffix}", Decoded(encoding="utf-16")
        _convert_whole(file, source, "utf-16")
    nul_at, utf8, too_deep = _scan(source, MAX_JSON_DEPTH if json else None)
    if nul_at is not None:
        raise InvalidInputError(
            f"'{file.name}' does not look like a text file: line {_line_of(source, nul_at)} "
            f"holds a NUL byte (byte {nul_at + 1:,}); export it again as plain text."
        )
    if too_deep:
        raise InvalidInputError(
            f"'{file.name}' nests deeper than {MAX_JSON_DEPTH} levels of brackets, "
            f"the most Harvest imports; flatten the data first."
        )
    if utf8:
        return source, decoded
    target = scratch / f"lines{file.suffix}"
    return target, transcode_lines(source, target)


def _convert_whole(source: Path, target: Path, encoding: str) -> None:
    with (
        source.open("r", encoding=encoding, newline="") as src,
        target.open("w", encoding="utf-8", newline="") as dst,
    ):
        while chunk := src.read(CHUNK_BYTES):
            dst.write(chunk)


def _scan(file: Path, depth_limit: int | None) -> tuple[int | None, bool, bool]:
    """One pass: the offset of the first NUL, whether all is UTF-8, whether nesting passed the limit."""
    utf8 = codecs.getincrementaldecoder("utf-8")()
    valid = True
    depth = _JsonDepth() if depth_limit is not None else None
    offset = 0
    with file.open("rb") as handle:
        while chunk := handle.read(CHUNK_BYTES):
            nul = chunk.find(b"\x00")
            if nul >= 0:
                return offset + nul, valid, False
            if valid and not (chunk.isascii() and not utf8.getstate()[0]):
                try:
                    utf8.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
            if depth is not None and depth_limit is not None and depth.feed(chunk) > depth_limit:
                return None, valid, True
            offset += len(chunk)
    if valid:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            valid = False
    return None, valid, False


def _line_of(file: Path, offset: int) -> int:
    """The line number (from 1) of the byte at ``offset``."""
    lines = 1
    with file.open("rb") as handle:
        while offset > 0 and (chunk := handle.read(min(CHUNK_BYTES, offset))):
            lines += chunk.count(b"\n")
            offset -= len(chunk)
    return lines


class _JsonDepth:
    """The running bracket depth of JSON text fed in chunks, strings and escapes skipped.

    Escaped backslashes and escaped quotes are removed first, so every quote left opens or
    closes a string; then only brackets and quotes are kept (``bytes.translate``), and
    adjacent quote pairs, which hold no brackets, are dropped (this keeps every bracket's
    side of the strings). What is left is short, and the depth is a cumulative sum over
    the brackets outside strings. Backslashes at a chunk's end are carried to the next,
    where the character they escape is.
    """

    def __init__(self) -> None:
        self.depth = 0
        self._in_string = 0
        self._carry = b""

    def feed(self, chunk: bytes) -> int:
        """The deepest level reached in ``chunk``."""
        data = self._carry + chunk
        body = data.rstrip(b"\\")
        self._carry = data[len(body) :]
        if b"\\" in body:
            body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
        marks = np.frombuffer(
            body.translate(None, _NOT_STRUCTURAL).replace(b'""', b""), dtype=np.uint8
        )
        if not marks.size:
            return self.depth
        inside = (np.cumsum(marks == ord('"'), dtype=np.uint8) + self._in_string) & 1
        self._in_string = int(inside[-1])
        depths = self.depth + np.cumsum(np.where(inside, 0, _STEPS[marks]), dtype=np.int64)
        self.depth = int(depths[-1])
        return int(depths.max())


def transcode_lines(source: Path, target: Path) -> Decoded:
    """Write ``source`` to ``target`` as UTF-8, decoding each line as UTF-8 where it is valid."""
    decoder = _LineDecoder()
    carry = b""
    with source.open("rb") as src, target.open("w", encoding="utf-8", newline="") as dst:
        while True:
            chunk = src.read(CHUNK_BYTES)
            block = carry + chunk
            if chunk:
                cut = block.rfind(b"\n") + 1
                if not cut:  # no line ends in it yet
                    carry = block
                    continue
                block, carry = block[:cut], block[cut:]
            dst.write(decoder.decode(block))
            if not chunk:
                break
    return decoder.result()


class _LineDecoder:
    """Decodes blocks of whole lines: UTF-8 in bulk, and only the lines that fail otherwise."""

    def __init__(self) -> None:
        self.line = 1
        self.lines: list[int] = []
        self.count = 0
        self.saw_utf8 = False
        self.saw_c1 = False
        self.started = False

    def decode(self, block: bytes) -> str:
        """``block`` (whole lines) as text: one UTF-8 decode that escapes the invalid bytes,
        then only the lines holding escapes decoded again with the fallback."""
        if not self.started:
            self.started = True
            block = block.removeprefix(codecs.BOM_UTF8)
        text = block.decode("utf-8", "surrogateescape")
        if _ESCAPED.search(text) and _ESCAPED.sub("", text).isascii():
            whole = self._single_byte(block)
            if whole is not None:
                return whole
        parts, pos = [], 0
        while escaped := _ESCAPED.search(text, pos):
            start = max(pos, text.rfind("\n", pos, escaped.start()) + 1)
            end = text.find("\n", escaped.start()) + 1 or len(text)
            parts.append(self._utf8(text, pos, start))
            parts.append(self._fallback(text[start:end].encode("utf-8", "surrogateescape")))
            self.line += 1
            pos = end
        parts.append(self._utf8(text, pos, len(text)))
        return "".join(parts)

    def _single_byte(self, block: bytes) -> str | None:
        """A block with no UTF-8 beyond ASCII in one go: each line with other bytes is read
        the fallback way (None when Windows-1252 fits some lines and not others)."""
        text = block.decode("latin-1")
        if _C1_BYTES.search(block):
            try:
                text = block.decode("cp1252")
            except UnicodeDecodeError:
                return None
            self.saw_c1 = True
        at, line = 0, self.line
        for found in _NON_ASCII_LINE.finditer(block):
            self.count += 1
            if len(self.lines) < MAX_LISTED_LINES:
                line += block.count(b"\n", at, found.start())
                at = found.start()
                self.lines.append(line)
        self.line += block.count(b"\n")
        return text

    def _utf8(self, text: str, start: int, end: int) -> str:
        """Lines that were valid UTF-8, counted."""
        good = text[start:end]
        self.line += good.count("\n")
        self.saw_utf8 = self.saw_utf8 or not good.isascii()
        return good

    def _fallback(self, raw: bytes) -> str:
        self.count += 1
        if len(self.lines) < MAX_LISTED_LINES:
            self.lines.append(self.line)
        if _C1_BYTES.search(raw):
            try:
                text = raw.decode("cp1252")
                self.saw_c1 = True
                return text
            except UnicodeDecodeError:
                pass
        return raw.decode("latin-1")

    def result(self) -> Decoded:
        fallback = "windows-1252" if self.saw_c1 else "latin-1"
        if not self.count:
            return Decoded()
        if not self.saw_utf8:  # every line beyond ASCII is in the single-byte encoding
            return Decoded(encoding=fallback)
        return Decoded(fallback=fallback, lines=tuple(self.lines), line_count=self.count)
