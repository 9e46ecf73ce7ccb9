"""Importing files, messy ones included: encodings, delimiters, preambles, numbers, ragged rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from catalog import Catalog, Listing, importer
from catalog.importer import detect_encoding, import_file
from catalog.textfiles import MAX_JSON_DEPTH
from core.errors import InvalidInputError


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def rows(catalog: Catalog, ref: str) -> list[dict[str, object]]:
    return catalog.read(ref).to_pylist()


def test_latin1_with_pound_signs(catalog: Catalog, tmp_path: Path) -> None:
    file = write(tmp_path / "prices.csv", "item,price\nCafé,£12\nThé,£5\n".encode("latin-1"))
    result, report = import_file(catalog, file, "prices")
    assert rows(catalog, result.version.ref) == [
        {"item": "Café", "price": "£12"},
        {"item": "Thé", "price": "£5"},
    ]
    assert report.encoding == "latin-1"
    assert "Read as latin-1 and converted to UTF-8." in report.findings()


def test_a_new_import_gets_a_card_from_its_file_name_and_a_reimport_keeps_an_edited_one(
    catalog: Catalog, tmp_path: Path
) -> None:
    file = write(tmp_path / "shop_prices.csv", b"item,price\na,1\n")
    import_file(catalog, file, "shop")
    assert catalog.dataset("imports.shop").listing.title == "Shop Prices"
    catalog.set_listing("imports.shop", Listing(title="Edited"))
    write(file, b"item,price\na,2\n")
    result, _ = import_file(catalog, file, "shop")
    assert result.created and catalog.dataset("imports.shop").listing.title == "Edited"


def test_windows_1252_curly_quotes_and_euro(catalog: Catalog, tmp_path: Path) -> None:
    file = write(tmp_path / "q.csv", "name,note\nA,“quoted” €5\n".encode("cp1252"))
    result, report = import_file(catalog, file, "q")
    assert report.encoding == "windows-1252"
    assert rows(catalog, result.version.ref) == [{"name": "A", "note": "“quoted” €5"}]


def test_utf8_with_bom_and_thousands_separators(catalog: Catalog, tmp_path: Path) -> None:
    file = write(tmp_path / "bom.csv", b'\xef\xbb\xbfid,amount\n1,"1,200.50"\n2,"3,000"\n')
    result, report = import_file(catalog, file, "bom")
    assert rows(catalog, result.version.ref) == [
        {"id": 1, "amount": 1200.5},
        {"id": 2, "amount": 3000.0},
    ]
    assert report.thousands_columns == ("amount",)
    assert detect_encoding(b"\xef\xbb\xbfa") == "utf-8-sig"


def test_semicolons_decimal_commas_preamble_duplicate_headers_ragged_and_blank_rows(
    catalog: Catalog, tmp_path: Path
) -> None:
    text = (
        "Export from ShopSystem 3.2\nGenerated 2026-01-01\n\n"
        "name;price;price;qty\n"
        "Tea;1.299,50;2,5;3\n"
        "Coffee;12,00;1,0\n"
        ";;;\n"
        "\n"
        "Cake;3,10;4,0;5;extra\n"
    )
    file = write(tmp_path / "messy.csv", text.encode())
    result, report = import_file(catalog, file, "messy")
    assert rows(catalog, result.version.ref) == [
        {"name": "Tea", "price": 1299.5, "price_1": 2.5, "qty": 3, "column4": None},
        {"name": "Coffee", "price": 12.0, "price_1": 1.0, "qty": None, "column4": None},
        {"name": "Cake", "price": 3.1, "price_1": 4.0, "qty": 5, "column4": "extra"},
    ]
    assert report.delimiter == ";"
    assert report.preamble_rows == 3
    assert report.renamed_headers == ("price",)
    assert report.decimal_comma_columns == ("price", "price_1")
    assert report.blank_rows == 2
    assert report.padded_rows == 1
    assert report.extra_field_columns == ("column4",)
    stored = catalog.report(result.version.ref)
    assert any("decimal commas" in f for f in stored["import"]["findings"])


def test_a_large_clean_csv_takes_the_fast_path(catalog: Catalog, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"id": range(5000), "value": [i * 0.5 for i in range(5000)], "tag": ["x", "y"] * 2500}
    )
    file = tmp_path / "big.tsv"
    frame.to_csv(file, sep="\t", index=False)
    result, report = import_file(catalog, file, "big", key=("id",))
    assert result.version.rows == 5000 and report.format == "tsv" and report.findings() == []
    assert dict(result.version.columns) == {"id": "BIGINT", "value": "DOUBLE", "tag": "VARCHAR"}


def test_json_lines_json_parquet_and_excel(catalog: Catalog, tmp_path: Path) -> None:
    records = [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}]
    jsonl = write(tmp_path / "r.jsonl", "\n".join(json.dumps(r) for r in records).encode())
    plain = write(tmp_path / "r.json", json.dumps(records).encode())
    parquet = tmp_path / "r.parquet"
    pd.DataFrame(records).to_parquet(parquet)
    excel = tmp_path / "r.xlsx"
    with pd.ExcelWriter(excel) as writer:
        pd.DataFrame(
            [["Quarterly report", None], [None, None], ["a", "b"], [1, "x"], [2, "y"]]
        ).to_excel(writer, header=False, index=False)
    for name, file in (("jl", jsonl), ("js", plain), ("pq", parquet), ("xl", excel)):
        result, _ = import_file(catalog, file, name)
        assert rows(catalog, result.version.ref) == records, name


def test_reimporting_the_same_file_makes_no_new_version(catalog: Catalog, tmp_path: Path) -> None:
    file = write(tmp_path / "a.csv", b"x,y\n1,2\n")
    first, _ = import_file(catalog, file, "same")
    again, _ = import_file(catalog, file, "same")
    assert first.created and not again.created and again.version.number == 1


@pytest.mark.parametrize(
    ("name", "data", "message"),
    [
        ("empty.csv", b"", "is empty"),
        ("blank.csv", b"\n\n  \n", "is empty"),
        ("header.csv", b"a,b\n", "has a header but no rows"),
        ("image.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "does not look like a text file"),
        ("fake.parquet", b"not parquet at all", "not a valid parquet file"),
        ("fake.xlsx", b"not a workbook", "not a valid excel file"),
        ("data.xml", b"<a/>", "unknown file type"),
        ("broken.json", b'[{"a": 1', "could not be read as json"),
    ],
)
def test_bad_files_are_reported_clearly(
    catalog: Catalog, tmp_path: Path, name: str, data: bytes, message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        import_file(catalog, write(tmp_path / name, data), "bad")
    assert catalog.datasets() == []


def test_a_missing_file_is_reported(catalog: Catalog, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="There is no file"):
        import_file(catalog, tmp_path / "nope.csv", "nope")


@pytest.mark.parametrize(
    ("data", "long_value"),
    [
        (b"id,text\n1," + b"x" * 10_000_000 + b"\n2,two\n", "x" * 10_000_000),
        (b'id,text\n1,"' + b"\n" * 2_000_000 + b'"\n2,two\n', "\n" * 2_000_000),
        (b"id,text\n1," + b"y" * 200_000 + b"\n2,two\n", "y" * 200_000),
    ],
    ids=["10MB field", "2M line breaks in a quoted field", "200k field"],
)
def test_long_fields_and_line_breaks_in_a_field_are_read_whole(
    catalog: Catalog, tmp_path: Path, data: bytes, long_value: str
) -> None:
    result, report = import_file(catalog, write(tmp_path / "long.csv", data), "long")
    assert rows(catalog, result.version.ref) == [
        {"id": 1, "text": long_value},
        {"id": 2, "text": "two"},
    ]
    assert report.findings() == []


def test_megabyte_text_cells_are_read_whole(catalog: Catalog, tmp_path: Path) -> None:
    cells = [chr(ord("a") + i) * 1_000_000 for i in range(5)]
    data = "id,text\n" + "".join(f"{i},{cell}\n" for i, cell in enumerate(cells))
    result, _ = import_file(catalog, write(tmp_path / "cells.csv", data.encode()), "cells")
    assert rows(catalog, result.version.ref) == [
        {"id": i, "text": cell} for i, cell in enumerate(cells)
    ]


def test_a_long_field_in_a_ragged_file_is_read_by_the_fallback(
    catalog: Catalog, tmp_path: Path
) -> None:
    data = b"a;b\n1;" + b"x" * 200_000 + b"\n2\n3;y;z\n"
    result, report = import_file(catalog, write(tmp_path / "ragged.csv", data), "ragged")
    assert rows(catalog, result.version.ref) == [
        {"a": 1, "b": "x" * 200_000, "column2": None},
        {"a": 2, "b": None, "column2": None},
        {"a": 3, "b": "y", "column2": "z"},
    ]
    assert report.padded_rows == 1 and report.extra_field_columns == ("column2",)


def test_a_row_longer_than_the_limit_is_refused_naming_the_row_and_the_limit(
    catalog: Catalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(importer, "MAX_ROW_BYTES", 3 << 20)
    data = b"id,text\n1,short\n2," + b"x" * (4 << 20) + b"\n3,short\n"
    with pytest.raises(InvalidInputError, match=r"row 2 is longer than 3 MiB, the most one row"):
        import_file(catalog, write(tmp_path / "huge.csv", data), "huge")
    assert catalog.datasets() == []


def nested(depth: int) -> bytes:
    """A JSON object whose value holds lists ``depth`` levels deep in all (the object counts)."""
    return b'{"a": ' + b"[" * (depth - 1) + b"1" + b"]" * (depth - 1) + b"}"


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("deep.json", b"[" * 10_000 + b"1" + b"]" * 10_000),
        ("deep.jsonl", b'{"a": 1}\n' + nested(10_000) + b"\n"),
        ("limit.jsonl", nested(MAX_JSON_DEPTH + 1) + b"\n"),
    ],
    ids=["json 10,000 deep", "json lines 10,000 deep", "one past the limit"],
)
def test_json_nested_deeper_than_the_limit_is_refused_before_it_is_read(
    catalog: Catalog, tmp_path: Path, name: str, data: bytes
) -> None:
    with pytest.raises(InvalidInputError, match=f"nests deeper than {MAX_JSON_DEPTH} levels"):
        import_file(catalog, write(tmp_path / name, data), "deep")
    assert catalog.datasets() == []


def test_json_at_the_depth_limit_imports_and_brackets_in_strings_do_not_count(
    catalog: Catalog, tmp_path: Path
) -> None:
    brackets = '[[[{{{\\"' * 50
    data = nested(MAX_JSON_DEPTH) + b"\n" + json.dumps({"b": [brackets]}).encode() + b"\n"
    result, _ = import_file(catalog, write(tmp_path / "ok.jsonl", data), "ok")
    assert result.version.rows == 2
    assert rows(catalog, result.version.ref)[1]["b"] == [brackets]


def test_a_nul_byte_past_the_first_megabyte_is_refused(catalog: Catalog, tmp_path: Path) -> None:
    data = b"id,text\n" + b"1,xxxxxxxx\n" * 200_000 + b"2,a\x00b\n"
    with pytest.raises(InvalidInputError, match=r"line 200002 holds a NUL byte"):
        import_file(catalog, write(tmp_path / "nul.csv", data), "nul")
    assert catalog.datasets() == []


def test_lines_not_in_utf8_are_decoded_alone_and_reported(catalog: Catalog, tmp_path: Path) -> None:
    data = "id,text\n1,café\n".encode() + b"2,caf\xe9 \x80\n" + "3,naïve\n".encode()
    result, report = import_file(catalog, write(tmp_path / "mixed.csv", data), "mixed")
    assert rows(catalog, result.version.ref) == [
        {"id": 1, "text": "café"},
        {"id": 2, "text": "café €"},
        {"id": 3, "text": "naïve"},
    ]
    assert report.encoding == "utf-8"
    assert report.findings() == [
        "1 line(s) were not valid UTF-8 and were read as windows-1252 (line 3); the rest is UTF-8."
    ]
    stored = catalog.report(result.version.ref)
    assert stored["import"]["findings"] == report.findings()


def test_mixed_json_lines_are_decoded_line_by_line(catalog: Catalog, tmp_path: Path) -> None:
    data = '{"a": "café"}\n'.encode() + b'{"a": "caf\xe9"}\n'
    result, report = import_file(catalog, write(tmp_path / "mixed.jsonl", data), "mixedjl")
    assert rows(catalog, result.version.ref) == [{"a": "café"}, {"a": "café"}]
    assert "read as latin-1 (line 2)" in report.findings()[0]


def test_findings_name_empty_headers_and_an_empty_last_column_for_what_they_are(
    catalog: Catalog, tmp_path: Path
) -> None:
    body = "".join(f"{i},{i * 2},\n" for i in range(50))
    file = write(tmp_path / "shape.csv", ("a,,c\n" + body + "50,100\n").encode())
    result, report = import_file(catalog, file, "shape")
    assert rows(catalog, result.version.ref)[-1] == {"a": 50, "column1": 100, "c": None}
    assert report.unnamed_headers == ("column1",)
    assert report.extra_field_columns == ()
    assert report.padded_rows == 1
    assert report.findings() == [
        "Named empty headers: column1.",
        "1 row(s) had fewer fields than the header; missing values are empty.",
    ]


@pytest.mark.parametrize("name", ["raw.products", "predictions.x", "clean.x", "imports.a.b"])
def test_an_import_may_only_name_an_imports_dataset(
    catalog: Catalog, tmp_path: Path, name: str
) -> None:
    with pytest.raises(InvalidInputError, match=r"imports go to imports\.NAME"):
        import_file(catalog, write(tmp_path / "a.csv", b"x\n1\n"), name)
    assert catalog.datasets() == []


def test_an_import_named_in_full_goes_to_imports(catalog: Catalog, tmp_path: Path) -> None:
    result, _ = import_file(catalog, write(tmp_path / "a.csv", b"x\n1\n"), "imports.full")
    assert result.version.ref == "imports.full@1"
