"""Import files as datasets: CSV, TSV, JSON Lines, JSON, Parquet and Excel, messy ones included.

Real files are messy, so before DuckDB reads a text file the whole file is checked in one
fast pass (:mod:`catalog.textfiles`: NUL bytes and JSON nested deeper than 16 levels are
refused, lines that are not UTF-8 are decoded as Windows-1252 or Latin-1), and its first
megabyte is inspected: the delimiter, preamble lines above the header, duplicate and empty
header names, numbers written with decimal commas or thousands separators, short and long
rows, and blank rows. What was found is returned in an :class:`ImportReport` (and stored
with the version), so nothing is fixed silently. DuckDB's own reader does the heavy
lifting, so a clean file imports at close to ``read_csv`` speed. A row may be up to
:data:`MAX_ROW_BYTES` long (fields with millions of characters or line breaks included);
a longer one is refused with its row number.

Imports are written to ``imports.<name>`` only: the other stages belong to scrapes
(``raw``), cleaning (``clean``) and models (``predictions``).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import tempfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from catalog.engine import first_line, quote_literal, scalar
from catalog.profile import quote_ident
from catalog.records import CommitResult, Listing, validate_name
from catalog.store import Catalog, Staged
from catalog.textfiles import Decoded, readable_text
from core.errors import InvalidInputError

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_BYTES = 1 << 20
MAX_ROW_BYTES = 64 << 20
IMPORTS = "imports"
# What DuckDB reads as NULL in the short-row count: no real field is this, so empty fields stay ''.
_NEVER_NULL = "\x01harvest:no-null\x01"
_DELIMITERS = (",", ";", "\t", "|")
_FORMATS = {
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "excel",
    ".xlsm": "excel",
}
_COMMA_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(\.\d{3})+|\d+)(,\d+)?$")
_DOT_DECIMAL = re.compile(r"^[-+]?(\d{1,3}(,\d{3})+|\d+)(\.\d+)?$")


@dataclass(frozen=True)
class ImportReport:
    """What the importer found in a file and did about it."""

    file: str
    format: str
    rows: int = 0
    columns: tuple[str, ...] = ()
    decoded: Decoded | None = None
    delimiter: str = ""
    preamble_rows: int = 0
    renamed_headers: tuple[str, ...] = ()
    unnamed_headers: tuple[str, ...] = ()
    decimal_comma_columns: tuple[str, ...] = ()
    thousands_columns: tuple[str, ...] = ()
    padded_rows: int = 0
    extra_field_columns: tuple[str, ...] = ()
    blank_rows: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def encoding(self) -> str:
        """The text file's encoding (``utf-8`` also when only some lines were); empty for binary formats."""
        return self.decoded.encoding if self.decoded else ""

    def findings(self) -> list[str]:
        """Human sentences, one per thing that was not clean."""
        found = list(self.notes)
        if self.decoded and (decoding := self.decoded.finding()):
            found.append(decoding)
        if self.preamble_rows:
            found.append(f"Skipped {self.preamble_rows} line(s) above the header.")
        if self.renamed_headers:
            found.append(f"Renamed duplicate headers: {', '.join(self.renamed_headers)}.")
        if self.unnamed_headers:
            found.append(f"Named empty headers: {', '.join(self.unnamed_headers)}.")
        if self.decimal_comma_columns:
            found.append(f"Read decimal commas in: {', '.join(self.decimal_comma_columns)}.")
        if self.thousands_columns:
            found.append(f"Removed thousands separators in: {', '.join(self.thousands_columns)}.")
        if self.padded_rows:
            found.append(
                f"{self.padded_rows} row(s) had fewer fields than the header; missing values are empty."
            )
        if self.extra_field_columns:
            found.append(
                f"Some rows had more fields than the header; the extra values are kept in {', '.join(self.extra_field_columns)}."
            )
        if self.blank_rows:
            found.append(f"Dropped {self.blank_rows} blank row(s).")
        return found


@dataclass(frozen=True)
class TextSniff:
    encoding: str
    delimiter: str
    preamble: int
    header: tuple[str, ...]
    fields: int


def detect_format(path: Path) -> str:
    """The file's format from its extension, checked against its first bytes."""
    head = path.open("rb").read(8)
    if head.startswith(b"PAR1"):
        return "parquet"
    if head.startswith(b"PK\x03\x04") and path.suffix.lower() in (".xlsx", ".xlsm"):
        return "excel"
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInputError(
            f"'{path.name}' has an unknown file type; import .csv, .tsv, .jsonl, .json, .parquet or .xlsx files."
        )
    if fmt in ("parquet", "excel"):
        raise InvalidInputError(
            f"'{path.name}' is not a valid {fmt} file (its first bytes are wrong)."
        )
    return fmt


def detect_encoding(sample: bytes) -> str:
    """utf-8-sig, utf-8, utf-16, windows-1252 or latin-1 (the codec name Python uses)."""
    if sample.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if sample.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        sample.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        if error.start >= len(sample) - 3:  # a character cut by the sample's end
            return "utf-8"
    if any(0x80 <= b <= 0x9F for b in sample):
        try:
            sample.decode("cp1252")
            return "windows-1252"
        except UnicodeDecodeError:
            pass
    return "latin-1"


def sniff_text(sample: bytes, path: Path) -> TextSniff:
    """Encoding, delimiter, preamble lines and header of a delimited text file's sample."""
    encoding = detect_encoding(sample)
    text = sample.decode(encoding, errors="ignore")
    lines = [line for line in text.splitlines()[:200] if line.strip()]
    if not text.strip() or not lines:
        raise InvalidInputError(f"'{path.name}' is empty: there is nothing to import.")
    if len(text) == len(sample) and len(sample) == SAMPLE_BYTES:
        lines = lines[:-1]  # the last line may be cut by the sample's end
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else _best_delimiter(lines)
    widths = [len(_split(line, delimiter)) for line in lines]
    common = Counter(widths[len(widths) // 4 :] or widths).most_common(1)[0][0]
    preamble = next((i for i, w in enumerate(widths) if w >= common), 0)
    preamble_lines = _physical_preamble(text, lines[:preamble])
    header = tuple(cell.strip() for cell in _split(lines[preamble], delimiter))
    return TextSniff(encoding, delimiter, preamble_lines, header, common)


def _physical_preamble(text: str, preamble: list[str]) -> int:
    """How many physical lines (blank ones included) precede the header line."""
    if not preamble:
        return 0
    seen = 0
    for number, line in enumerate(text.splitlines()):
        if line.strip():
            if seen == len(preamble):
                return number
            seen += 1
    return 0


def _split(line: str, delimiter: str) -> list[str]:
    return next(_csv_rows([line], delimiter), [])


def _csv_rows(lines: Iterable[str], delimiter: str) -> Iterator[list[str]]:
    """Python's CSV reader, allowing fields as long as a row may be (its default stops at 128 KiB)."""
    csv.field_size_limit(max(csv.field_size_limit(), MAX_ROW_BYTES))
    return csv.reader(lines, delimiter=delimiter)


def import_name(name: str) -> str:
    """The dataset an import named ``name`` goes to: ``imports.<name>``, given bare or in full."""
    stage, dot, table = name.rpartition(".")
    if dot and stage != IMPORTS:
        raise InvalidInputError(
            f"'{name}' is not a name an import may take: imports go to imports.NAME "
            "(give NAME alone or as imports.NAME), and the other stages belong to scrapes, "
            "cleaning and models."
        )
    return f"{IMPORTS}.{validate_name(table)}"


def _best_delimiter(lines: list[str]) -> str:
    def score(delimiter: str) -> tuple[int, int]:
        widths = [len(_split(line, delimiter)) for line in lines]
        width, agreeing = Counter(widths).most_common(1)[0]
        return (agreeing if width > 1 else 0, width)

    return max(_DELIMITERS, key=score)


def import_file(
    catalog: Catalog,
    path: str | Path,
    name: str,
    *,
    listing: Listing | None = None,
    key: tuple[str, ...] | None = None,
    message: str = "",
    producer: str | None = None,
) -> tuple[CommitResult, ImportReport]:
    """Import ``path`` as the next version of ``imports.<name>`` and report what was found."""
    file = Path(path)
    if not file.is_file():
        raise InvalidInputError(f"There is no file at '{path}'.")
    if file.stat().st_size == 0:
        raise InvalidInputError(f"'{file.name}' is empty: there is nothing to import.")
    dataset = import_name(name)
    fmt = detect_format(file)
    con = catalog.cursor()
    with tempfile.TemporaryDirectory() as scratch:
        if fmt == "csv":
            report = _load_csv(con, file, Path(scratch))
        else:
            select, report = _reader(con, file, fmt, Path(scratch))
            try:
                con.execute(f"CREATE OR REPLACE TEMP TABLE _import AS {select}")
            except duckdb.Error as error:
                raise InvalidInputError(
                    f"'{file.name}' could not be read as {fmt}: {first_line(error)}"
                ) from error
    report = _tidy(con, report)
    if not report.rows:
        raise InvalidInputError(
            f"'{file.name}' has a header but no rows: there is nothing to import."
        )
    try:
        result = catalog.commit(
            dataset,
            Staged(con, "temp._import"),
            producer=producer or f"import:{file.name}",
            message=message or f"Imported {file.name}",
            key=key,
            listing=listing,
            first_listing=Listing(
                title=file.stem.replace("_", " ").title(), source_url=str(file.resolve())
            ),
            report={"import": _report_dict(report)},
        )
    finally:
        con.execute("DROP TABLE IF EXISTS temp._import")
    return result, report


def _report_dict(report: ImportReport) -> dict[str, object]:
    return {"format": report.format, "encoding": report.encoding, "findings": report.findings()}


def _reader(
    con: duckdb.DuckDBPyConnection, file: Path, fmt: str, scratch: Path
) -> tuple[str, ImportReport]:
    """A SELECT that reads a file that is not CSV, and the report of what inspecting it found."""
    source = quote_literal(str(file))
    if fmt == "parquet":
        return f"SELECT * FROM read_parquet({source})", ImportReport(file=file.name, format=fmt)
    if fmt in ("jsonl", "json"):
        readable, decoded = readable_text(file, scratch, json=True)
        style = "newline_delimited" if fmt == "jsonl" else "auto"
        return (
            f"SELECT * FROM read_json({quote_literal(str(readable))}, format='{style}')",
            ImportReport(file=file.name, format=fmt, decoded=decoded),
        )
    frame, notes = _read_excel(file)
    con.register("_excel", frame)
    return "SELECT * FROM _excel", ImportReport(file=file.name, format="excel", notes=notes)


def _load_csv(con: duckdb.DuckDBPyConnection, file: Path, scratch: Path) -> ImportReport:
    """Read a delimited text file into ``temp._import`` and report what inspecting it found.

    DuckDB reads it with its default line limit first (a larger one makes every read
    slower), then once more allowing rows up to :data:`MAX_ROW_BYTES`; a file its sniffer
    gives up on is read with Python's csv module.
    """
    readable, decoded = readable_text(file, scratch, json=False)
    with readable.open("rb") as handle:
        sniff = sniff_text(handle.read(SAMPLE_BYTES), file)
    counts = Counter(h for h in sniff.header if h)
    report = ImportReport(
        file=file.name,
        format="tsv" if sniff.delimiter == "\t" else "csv",
        decoded=decoded,
        delimiter=sniff.delimiter,
        preamble_rows=sniff.preamble,
        renamed_headers=tuple(sorted(h for h, n in counts.items() if n > 1)),
    )
    base = [
        f"delim={quote_literal(sniff.delimiter)}",
        f"skip={sniff.preamble}",
        "header=true",
        "null_padding=true",
        "sample_size=20480",
    ]
    too_long: duckdb.Error | None = None
    for options in (base, [*base, f"max_line_size={MAX_ROW_BYTES}"]):
        try:
            con.execute(f"CREATE OR REPLACE TEMP TABLE _import AS {_read_csv(readable, options)}")
        except duckdb.Error as error:
            if "Maximum line size" not in str(error):
                return _read_small_ragged(con, readable, report)
            too_long = error
            continue
        return _with_csv_shape(con, report, readable, options, sniff.header)
    raise InvalidInputError(_long_row_sentence(readable, file.name, sniff)) from too_long


def _read_csv(readable: Path, options: list[str]) -> str:
    return f"SELECT * FROM read_csv({quote_literal(str(readable))}, {', '.join(options)})"


def _with_csv_shape(
    con: duckdb.DuckDBPyConnection,
    report: ImportReport,
    readable: Path,
    options: list[str],
    header: tuple[str, ...],
) -> ImportReport:
    """``report`` with the empty header names, the columns beyond the header and the short rows.

    DuckDB pads a short row with nulls, which look like empty trailing fields; so when the
    last header column has nulls, the file is read again as text with no null string, where
    only the padding is null.
    """
    columns = [str(row[0]) for row in con.execute("DESCRIBE temp._import").fetchall()]
    width = min(len(header), len(columns))
    short = 0
    last = quote_ident(columns[width - 1]) if width else None
    if last and scalar(con, f"SELECT count(*) FROM temp._import WHERE {last} IS NULL"):
        as_text = _read_csv(
            readable, [*options, "all_varchar=true", f"nullstr={quote_literal(_NEVER_NULL)}"]
        )
        try:
            short = scalar(con, f"SELECT count(*) FROM ({as_text}) WHERE {last} IS NULL")
        except duckdb.Error:  # read as text, the file looked otherwise: say nothing, not wrongly
            short = 0
    return replace(
        report,
        unnamed_headers=tuple(columns[i] for i in range(width) if not header[i]),
        extra_field_columns=tuple(columns[len(header) :]),
        padded_rows=int(short),
    )


def _long_row_sentence(readable: Path, name: str, sniff: TextSniff) -> str:
    """The sentence refusing a file with a row longer than :data:`MAX_ROW_BYTES`, naming the row."""
    limit = f"{MAX_ROW_BYTES >> 20} MiB"
    with readable.open(encoding="utf-8-sig", newline="") as handle:
        for _ in range(sniff.preamble):
            handle.readline()
        rows, number = _csv_rows(handle, sniff.delimiter), 0
        while True:
            try:
                row = next(rows)
            except StopIteration:
                return f"'{name}' has a row longer than {limit}, the most one row may hold."
            except csv.Error:
                break
            if sum(len(value.encode()) for value in row) > MAX_ROW_BYTES:
                break
            number += 1
    where = f"row {number}" if number else "the header row"
    return (
        f"'{name}': {where} is longer than {limit}, the most one row may hold; "
        "split its long values or import the data as Parquet."
    )


def _read_small_ragged(
    con: duckdb.DuckDBPyConnection, readable: Path, report: ImportReport
) -> ImportReport:
    """Read a delimited file DuckDB's sniffer gave up on (small and ragged) with Python's csv module."""
    lines = readable.read_text(encoding="utf-8-sig").splitlines(keepends=True)
    try:
        rows = list(
            _csv_rows(io.StringIO("".join(lines[report.preamble_rows :])), report.delimiter)
        )
    except csv.Error as error:
        raise InvalidInputError(
            f"'{report.file}' could not be read as {report.format}: {error} "
            f"(rows may be at most {MAX_ROW_BYTES >> 20} MiB)."
        ) from error
    if not rows:
        raise InvalidInputError(f"'{report.file}' has no header row.")
    header, body = rows[0], rows[1:]
    width = max(len(header), *(len(r) for r in body)) if body else len(header)
    names = _unique([h.strip() or f"column{i}" for i, h in enumerate(header)])
    names += [f"column{i}" for i in range(len(names), width)]
    values = {
        n: [r[i].strip() if i < len(r) and r[i].strip() else None for r in body]
        for i, n in enumerate(names)
    }
    import pandas as pd

    con.register("_ragged", pd.DataFrame(values, dtype=object))
    casts = []
    for name in names:
        col = quote_ident(name)
        chosen = "VARCHAR"
        for candidate in ("BIGINT", "DOUBLE", "DATE", "TIMESTAMP", "BOOLEAN"):
            bad = con.execute(
                f"SELECT count(*) FROM _ragged WHERE {col} IS NOT NULL AND TRY_CAST({col} AS {candidate}) IS NULL"
            ).fetchone()[0]  # type: ignore[index]
            if not bad and con.execute(f"SELECT count({col}) FROM _ragged").fetchone()[0]:  # type: ignore[index]
                chosen = candidate
                break
        casts.append(f"TRY_CAST({col} AS {chosen}) AS {col}")
    con.execute(f"CREATE OR REPLACE TEMP TABLE _import AS SELECT {', '.join(casts)} FROM _ragged")
    con.unregister("_ragged")
    return replace(
        report,
        unnamed_headers=tuple(names[i] for i, h in enumerate(header) if not h.strip()),
        extra_field_columns=tuple(names[len(header) :]),
        padded_rows=sum(1 for r in body if len(r) < len(header) and any(v.strip() for v in r)),
    )


def _unique(names: list[str]) -> list[str]:
    """Duplicate names get _1, _2 ... as DuckDB's reader does."""
    seen: Counter[str] = Counter()
    out = []
    for name in names:
        out.append(name if not seen[name] else f"{name}_{seen[name]}")
        seen[name] += 1
    return out


def _read_excel(file: Path) -> tuple[pd.DataFrame, tuple[str, ...]]:
    import pandas as pd

    try:
        raw = pd.read_excel(file, header=None, dtype=object, engine="openpyxl")
    except Exception as error:  # openpyxl raises many types for broken files
        raise InvalidInputError(
            f"'{file.name}' could not be read as an Excel workbook: {error}"
        ) from error
    raw = raw.dropna(how="all").dropna(axis=1, how="all")
    if raw.empty:
        raise InvalidInputError(f"'{file.name}' has no data in its first sheet.")
    filled = raw.notna().sum(axis=1)
    header_at = int((filled >= filled.max()).to_numpy().argmax())
    header = [
        str(v).strip() if pd.notna(v) else f"column{i}" for i, v in enumerate(raw.iloc[header_at])
    ]
    names = _unique(header)
    frame = raw.iloc[header_at + 1 :].set_axis(names, axis=1).reset_index(drop=True)
    frame = frame.infer_objects()
    for column in frame.columns:
        if frame[column].dtype == object:
            frame[column] = frame[column].map(lambda v: None if pd.isna(v) else str(v))
    notes = (f"Skipped {header_at} row(s) above the header.",) if header_at else ()
    return frame, notes


def _tidy(con: duckdb.DuckDBPyConnection, report: ImportReport) -> ImportReport:
    """Drop blank rows and convert numbers written with separators."""
    described = con.execute("DESCRIBE temp._import").fetchall()
    columns = [str(row[0]) for row in described]
    types = {str(row[0]): str(row[1]) for row in described}
    any_value = " OR ".join(f"{quote_ident(c)} IS NOT NULL" for c in columns)
    blank = scalar(con, f"SELECT count(*) FROM temp._import WHERE NOT ({any_value})")
    if blank:
        con.execute(f"DELETE FROM temp._import WHERE NOT ({any_value})")
    comma: list[str] = []
    thousands: list[str] = []
    text_columns = [c for c in columns if types[c] == "VARCHAR"]
    if text_columns:
        sample = con.execute(
            f"SELECT {', '.join(quote_ident(c) for c in text_columns)} FROM temp._import LIMIT 2000"
        ).fetchall()
        for index, column in enumerate(text_columns):
            values = [
                str(row[index]).strip()
                for row in sample
                if row[index] is not None and str(row[index]).strip()
            ]
            style = _number_style(values)
            if style:
                (comma if style == "comma" else thousands).append(column)
    for column in comma + thousands:
        col = quote_ident(column)
        expr = (
            f"replace(replace(trim({col}), '.', ''), ',', '.')"
            if column in comma
            else f"replace(trim({col}), ',', '')"
        )
        con.execute(
            f"ALTER TABLE temp._import ALTER {col} TYPE DOUBLE USING TRY_CAST({expr} AS DOUBLE)"
        )
    rows = scalar(con, "SELECT count(*) FROM temp._import")
    return replace(
        report,
        rows=int(rows),
        columns=tuple(columns),
        blank_rows=int(blank),
        decimal_comma_columns=tuple(comma),
        thousands_columns=tuple(thousands),
    )


def _number_style(values: list[str]) -> str | None:
    """'comma' for 1.299,50-style numbers, 'thousands' for 1,299.50-style, else None."""
    if len(values) < 1:
        return None
    has_sep = [v for v in values if "," in v]
    if not has_sep:
        return None
    if all(_COMMA_DECIMAL.match(v) for v in values):
        return "comma"
    if all(_DOT_DECIMAL.match(v) for v in values):
        return "thousands"
    return None


def read_text_sample(path: Path) -> str:
    """The first part of a text file as text, in its detected encoding (for previews)."""
    sample = path.open("rb").read(SAMPLE_BYTES)
    return io.TextIOWrapper(
        io.BytesIO(sample), encoding=detect_encoding(sample), errors="replace"
    ).read()
