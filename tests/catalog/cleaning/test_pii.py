"""Personal data: e-mails, phones and Luhn-valid card numbers replaced, and counted."""

from __future__ import annotations

import pyarrow as pa
import pytest

from catalog.cleaning.pii import PiiCounts, luhn_valid, scrub, scrub_text


@pytest.mark.parametrize(
    ("text", "clean", "counts"),
    [
        ("Mail john.doe+x@example.co.uk now", "Mail [EMAIL] now", PiiCounts(email=1)),
        ("Call +44 20 7946 0958.", "Call [PHONE].", PiiCounts(phone=1)),
        ("(555) 123-4567 or 555.123.4567", "[PHONE] or [PHONE]", PiiCounts(phone=2)),
        ("tel. 030 12345678", "tel. [PHONE]", PiiCounts(phone=1)),
        ("+4915112345678", "[PHONE]", PiiCounts(phone=1)),
        ("Card 4111 1111 1111 1111 ok", "Card [CARD] ok", PiiCounts(card=1)),
        ("Card 4111-1111-1111-1111.", "Card [CARD].", PiiCounts(card=1)),
        ("order 4012888888881881", "order [CARD]", PiiCounts(card=1)),
    ],
)
def test_personal_data_is_replaced(text: str, clean: str, counts: PiiCounts) -> None:
    assert scrub_text(text) == (clean, counts)


@pytest.mark.parametrize(
    "text",
    [
        "not a card 4111 1111 1111 1112",
        "Released 2024-01-05 at 1,299.00 for sku 12345678",
        "ISBN 978-3-16-148410-0 and 20 000 000 units",
        "id 1234 5678, 12:30, 3.5 stars",
    ],
)
def test_numbers_that_are_not_personal_data_stay(text: str) -> None:
    assert scrub_text(text) == (text, PiiCounts())


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4111111111111112")


def test_a_column_is_scrubbed_and_counted_per_occurrence() -> None:
    column = pa.array(["a@b.com and c@d.org", "a@b.com and c@d.org", "nothing", None])
    result = scrub(column)
    assert result.values.to_pylist() == [
        "[EMAIL] and [EMAIL]",
        "[EMAIL] and [EMAIL]",
        "nothing",
        None,
    ]
    assert result.counts == PiiCounts(email=4)
