"""Text: markup and scripts stripped, entities decoded, Unicode normalised, hostile input."""

from __future__ import annotations

import pyarrow as pa

from catalog.cleaning.text import detect_languages, normalize_text, strip_html


def test_html_is_stripped_and_scripts_never_kept() -> None:
    html = (
        "<div><p>Hello &amp; <b>world</b></p><script>alert('x')</script>"
        "<style>p{color:red}</style><p onclick='evil()'>Second&nbsp;para</p></div>"
    )
    assert normalize_text(pa.array([html])).values.to_pylist() == ["Hello & world Second para"]
    hostile = "<SCRIPT src=x></SCRIPT><img src=x onerror=alert(2)><script>alert(1)</script>ok"
    assert strip_html(hostile) == "ok"
    # A browser reads "<scr<script>" as one odd tag and the rest as text: so does this.
    assert strip_html("<scr<script>ipt>x()</script>ok") == "ipt>x()ok"
    assert strip_html("<!-- hidden --><iframe src='x'></iframe>shown") == "shown"


def test_entities_unicode_whitespace_and_control_characters() -> None:
    texts = ["Tom &amp; Jerry", "ﬁne ①\u00a0x", "a\x00b  \t\n c\x07", "   ", "5 < 6 and 7 > 3"]
    result = normalize_text(pa.array(texts))
    assert result.values.to_pylist() == ["Tom & Jerry", "fine 1 x", "ab c", None, "5 < 6 and 7 > 3"]
    assert result.html_stripped == 1


def test_category_text_keeps_markup_like_characters_and_decodes_entities() -> None:
    values = normalize_text(pa.array(["<b>x</b>", "Outdoor &amp; Camping"]), strip_markup=False)
    assert values.values.to_pylist() == ["<b>x</b>", "Outdoor & Camping"]


def test_non_utf8_bytes_are_decoded_and_counted() -> None:
    raw = pa.array([b"caf\xe9 cr\xe8me \x93quoted\x94", b"plain", None], pa.binary())
    result = normalize_text(raw)
    assert result.values.to_pylist() == ["café crème “quoted”", "plain", None]
    assert result.not_utf8 == 1


def test_a_ten_megabyte_field_is_cleaned_whole() -> None:
    field = "<div>" + "word " * 2_100_000 + "<script>bad()</script></div>"
    values = normalize_text(pa.array([field, "x"])).values.to_pylist()
    assert values[0] is not None and len(values[0]) == 2_100_000 * 5 - 1
    assert "bad()" not in values[0][-100:]


def test_languages_are_detected_where_there_is_enough_text() -> None:
    found = detect_languages(
        pa.array(
            [
                "This is a sentence written in plain English for the test.",
                "Dies ist ein deutscher Satz, der etwas länger ist als nötig.",
                "short",
                None,
            ]
        )
    )
    assert found.to_pylist() == ["en", "de", None, None]
