"""Text files checked and decoded in chunks: the answers do not depend on where chunks end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from catalog import textfiles
from catalog.textfiles import Decoded, _JsonDepth, transcode_lines

DOCUMENTS = [
    {"a": [1, [2, [3]]], "b": 'quote " and [[[ {{{ in a string'},
    {"c": "backslash at the end \\", "d": [[['\\\\"[' * 3]]]},
    [[{"e": "]]]]}}}}"}], {"f": {"g": {"h": None}}}],
]


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 1000])
def test_json_depth_is_the_same_wherever_chunks_end(size: int) -> None:
    text = "\n".join(json.dumps(d) for d in DOCUMENTS).encode()
    counter = _JsonDepth()
    deepest = max(counter.feed(text[i : i + size]) for i in range(0, len(text), size))
    assert deepest == max(depth(d) for d in DOCUMENTS) == 4
    assert counter.depth == 0


LINES = [
    b"id,text",
    "1,café".encode(),
    "2,caf\xe9 \x80".encode("latin-1"),  # Windows-1252: € in 0x80
    "3,naïve".encode(),
    b"4,\xe9t\xe9 \x81",  # 0x81 is not Windows-1252: Latin-1
    "5,€uro".encode(),
]


@pytest.mark.parametrize("size", [1, 4, 16, 1 << 22])
def test_lines_decode_alike_wherever_chunks_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    monkeypatch.setattr(textfiles, "CHUNK_BYTES", size)
    source = tmp_path / "mixed.csv"
    source.write_bytes(b"\n".join(LINES) + b"\n")
    decoded = transcode_lines(source, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines() == [
        "id,text",
        "1,café",
        "2,café €",
        "3,naïve",
        "4,été \x81",
        "5,€uro",
    ]
    assert decoded == Decoded(fallback="windows-1252", lines=(3, 5), line_count=2)


def test_a_file_with_no_utf8_beyond_ascii_is_named_by_its_encoding(tmp_path: Path) -> None:
    source = tmp_path / "latin.csv"
    source.write_bytes("id,text\n1,café\n2,thé\n".encode("latin-1"))
    assert transcode_lines(source, tmp_path / "out.csv") == Decoded(encoding="latin-1")
    assert Decoded(encoding="latin-1").finding() == "Read as latin-1 and converted to UTF-8."


def test_many_lines_read_otherwise_are_listed_up_to_twenty(tmp_path: Path) -> None:
    source = tmp_path / "many.csv"
    source.write_bytes("text\ncafé\n".encode() + b"caf\xe9\n" * 25)
    decoded = transcode_lines(source, tmp_path / "out.csv")
    assert decoded.line_count == 25 and decoded.lines == tuple(range(3, 23))
    assert decoded.finding() == (
        "25 line(s) were not valid UTF-8 and were read as latin-1 "
        f"(line {', '.join(str(n) for n in range(3, 23))} and 5 more); the rest is UTF-8."
    )
