"""What words and symbols mean, once: yes/no and stock words, currency symbols and codes.

The scrapers read a field as it is scraped (``scrapers.values``) and cleaning reads a
whole column later (``catalog.cleaning.parsers``); both ask this module, so a word means
the same before and after cleaning. It imports nothing from Harvest, so the crawl's
child process can use it without loading the catalog.
"""

from __future__ import annotations

import re

TRUE_WORDS = frozenset(
    {
        "true",
        "yes",
        "y",
        "t",
        "1",
        "on",
        "instock",
        "in_stock",
        "in stock",
        "available",
        "available now",
        "limitedavailability",
        "limited availability",
        "instoreonly",
        "in store only",
        "onlineonly",
        "online only",
    }
)
FALSE_WORDS = frozenset(
    {
        "false",
        "no",
        "n",
        "f",
        "0",
        "off",
        "none",
        "outofstock",
        "out_of_stock",
        "out of stock",
        "soldout",
        "sold out",
        "unavailable",
        "not available",
        "discontinued",
        "preorder",
        "pre-order",
        "pre order",
        "presale",
        "backorder",
        "back order",
        "reserved",
        "madetoorder",
    }
)
_WHITESPACE = re.compile(r"\s+")
_SCHEMA_ORG = re.compile(r"^https?://schema\.org/", re.IGNORECASE)
_IN_STOCK = re.compile(r"\b(in stock|available)\b", re.IGNORECASE)
_OUT_OF_STOCK = re.compile(
    r"\b(out of stock|sold out|not in stock|unavailable|not available)\b", re.IGNORECASE
)
MAX_WORD_CHARS = 128  # longer text is no yes/no: not worth reading
# A currency written in a price: a code in capitals anywhere, a code in any case right beside
# the number ("12 eur"), or a symbol; so "try" and "now" in a sentence stay words.
_CURRENCY_TOKEN = re.compile(
    r"(?<![A-Za-z])[A-Z]{3}(?![A-Za-z])"
    r"|(?i:(?<![a-z])[a-z]{3}(?=\s*[+-]?\d)|(?<=\d)\s*[a-z]{3}(?![a-z]))"
    r"|(?i:(?<![a-z])(?:us\$|c\$|a\$|r\$|zł|fr\.))|[$€£¥₹₩₽]"
)

# Symbols written in upper case, as currency_code looks them up; "kr" is left out on
# purpose (Swedish, Norwegian or Danish crowns), so it reads as unknown.
CURRENCY_SYMBOLS = {
    "$": "USD",
    "US$": "USD",
    "€": "EUR",
    "£": "GBP",
    "¥": "JPY",
    "₹": "INR",
    "₩": "KRW",
    "₽": "RUB",
    "C$": "CAD",
    "A$": "AUD",
    "R$": "BRL",
    "ZŁ": "PLN",
    "FR.": "CHF",
}
ISO_CURRENCIES = frozenset(
    {
        "USD",
        "EUR",
        "GBP",
        "JPY",
        "CNY",
        "INR",
        "KRW",
        "RUB",
        "CAD",
        "AUD",
        "NZD",
        "CHF",
        "SEK",
        "NOK",
        "DKK",
        "PLN",
        "CZK",
        "HUF",
        "BRL",
        "MXN",
        "ZAR",
        "TRY",
        "SGD",
        "HKD",
        "ILS",
        "AED",
    }
)


def boolean_of(text: str) -> bool | None:
    """True/False for yes/no, stock and schema.org availability words; None when unknown.

    A listed word decides; otherwise a stock phrase inside longer text does ("Only 3 left,
    in stock"), out-of-stock first.
    """
    if len(text) > MAX_WORD_CHARS:
        return None
    word = _WHITESPACE.sub(" ", _SCHEMA_ORG.sub("", text.strip())).strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if _OUT_OF_STOCK.search(word):
        return False
    if _IN_STOCK.search(word):
        return True
    return None


def currency_code(token: str | None) -> str | None:
    """The ISO 4217 code for a currency symbol or code, None when unknown or ambiguous."""
    if not token:
        return None
    upper = token.strip().upper()
    if upper in ISO_CURRENCIES:
        return upper
    return CURRENCY_SYMBOLS.get(upper) or CURRENCY_SYMBOLS.get(token.strip())


def currency_of(text: str, found: str | None = None) -> str | None:
    """The ISO code of the currency written in the price ``text``, None when unknown.

    The first listed symbol or code in it decides; else ``found``, the token a price
    parser picked out (``price-parser`` knows more ways of writing currencies).
    """
    for match in _CURRENCY_TOKEN.finditer(text):
        if code := currency_code(match.group().strip()):
            return code
    return currency_code(found)
