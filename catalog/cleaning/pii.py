"""Personal data in free text replaced by placeholders before anything is written.

E-mail addresses become ``[EMAIL]``, payment-card numbers (13 to 19 digits that pass the
Luhn check) ``[CARD]``, and phone numbers ``[PHONE]``: an optional ``+country`` and
``(area)``, then groups of digits split by spaces, dots or dashes, 9 to 15 digits in
all (7 or more after a ``+``), that are not a date. A cheap Arrow filter picks the values
that could hold any of them, so text without digits or ``@`` costs nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc

from catalog.cleaning.values import TEXT, as_text, map_distinct, one_array

EMAIL_TOKEN = "[EMAIL]"
PHONE_TOKEN = "[PHONE]"
CARD_TOKEN = "[CARD]"

_EMAIL = re.compile(
    r"(?<![\w.+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}\b"
)
_CARD = re.compile(r"(?<![\d+-])\d(?:[ -]?\d){12,18}(?![\d-])")
_PHONE = re.compile(
    r"(?<![\w+])(?<!\d[.-])"  # not glued to other digits (ISBNs, ranges)
    r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{1,4}\)[ .-]?)?\d{1,4}(?:[ .-]\d{2,8}){1,5}"
    r"(?!\w|[.-]\d)"
    r"|(?<![\w+])\+\d{7,15}(?!\w)"
)
_DATE_LIKE = re.compile(r"^\d{4}[-.]\d{1,2}[-.]\d{1,2}$|^\d{1,2}[-.]\d{1,2}[-.]\d{2,4}$")
_CANDIDATE = r"@|\d[\d ().+-]{5,}\d"


@dataclass(frozen=True)
class PiiCounts:
    """How many of each kind were replaced."""

    email: int = 0
    phone: int = 0
    card: int = 0

    def __add__(self, other: PiiCounts) -> PiiCounts:
        return PiiCounts(self.email + other.email, self.phone + other.phone, self.card + other.card)

    @property
    def total(self) -> int:
        return self.email + self.phone + self.card


@dataclass(frozen=True)
class Scrubbed:
    """A column with personal data replaced, and the counts."""

    values: pa.Array
    counts: PiiCounts


def luhn_valid(digits: str) -> bool:
    """Whether a digit string passes the Luhn checksum used by payment cards."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match[0])
    return CARD_TOKEN if 13 <= len(digits) <= 19 and luhn_valid(digits) else match[0]


def _phone(match: re.Match[str]) -> str:
    text = match[0]
    digits = sum(ch.isdigit() for ch in text)
    low = 7 if text.startswith("+") else 9
    if low <= digits <= 15 and not _DATE_LIKE.match(text):
        return PHONE_TOKEN
    return text


def scrub_text(text: str) -> tuple[str, PiiCounts]:
    """``text`` with e-mails, card numbers and phone numbers replaced, and how many of each."""
    text, emails = _EMAIL.subn(EMAIL_TOKEN, text)
    before = text.count(CARD_TOKEN)
    text = _CARD.sub(_card, text)
    cards = text.count(CARD_TOKEN) - before
    before = text.count(PHONE_TOKEN)
    text = _PHONE.sub(_phone, text)
    phones = text.count(PHONE_TOKEN) - before
    return text, PiiCounts(emails, phones, cards)


def scrub(column: pa.Array | pa.ChunkedArray) -> Scrubbed:
    """The column with personal data replaced in every value (counted per row it appears in)."""
    strings = as_text(one_array(column))[0]
    candidates = pc.fill_null(pc.match_substring_regex(strings, _CANDIDATE), False)
    if not pc.any(candidates).as_py():
        return Scrubbed(strings, PiiCounts())
    rows = pc.filter(strings, candidates)
    found: dict[str, PiiCounts] = {}

    def scrub_distinct(distinct: pa.Array) -> pa.Array:
        out = []
        for value in distinct.to_pylist():
            clean, counts = scrub_text(value)
            found[value] = counts
            out.append(clean)
        return pa.array(out, TEXT)

    cleaned = map_distinct(rows, scrub_distinct)
    total = PiiCounts()
    for value in rows.to_pylist():
        total += found[value]
    return Scrubbed(pc.replace_with_mask(strings, candidates, cleaned), total)
