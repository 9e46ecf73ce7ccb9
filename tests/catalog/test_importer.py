"""Importing files, messy ones included: encodings, delimiters, preambles, numbers, ragged rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from catalog import Catalog, Listing
from catalog.importer import detect_encoding, import_file
from harvest.errors import InvalidInputError


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
