"""The visible page of a product: its main heading, buy button and price candidates, scored.

A shop page shows many prices: the product's (perhaps a sale price beside a struck-through
regular one), its variants', instalments ("4 × $25"), savings ("save $10"), the cart's
total, and the prices of related products in a grid. ``price_candidates`` finds every
element whose short text reads as a price (``price-parser``) or that carries a price in a
``data-*`` attribute, and ``score`` weighs what a person would look at: a currency, the
words in classes and ids up the tree (``price``, ``sale``, ``now``, ``current`` against
``old``, ``was``, ``strike``, ``compare``), ``<del>``/``<s>`` and ``line-through``,
repetition in a product grid, instalment and saving words, and nearness to the main heading
and the buy button in document order. The weights are set by hand and checked on the
evaluation corpus (``tests/scrapers/corpus/products``); no weight names a shop.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import lxml.etree
from lxml.html import HtmlElement
from price_parser import Price

from catalog.vocabulary import currency_of


def words(text: str) -> frozenset[str]:
    """The words of ``text`` as a set (long word lists read better as text)."""
    return frozenset(text.split())


_SKIPPED = {"script", "style", "noscript", "template", "option", "select", "head", "title", "svg"}
_WORDS = re.compile(r"[a-z]+")
_TOKENS = re.compile(r"\w+")
_DIGIT = re.compile(r"\d")
_GLUED = re.compile(
    r"[A-Za-z_/#-]\d|\d[A-Za-z_/#]"
)  # a code or a unit price (HV-AUD-01037, 2.50/kg)
_CURRENT_WORDS = words(
    "price prices amount money sale sales now current final special offer "
    "our actual selling product preis aktuell cena aktualna prix precio "
    "prezzo prijs "
)
_OLD_WORDS = words(
    "old was strike striked strikethrough compare regular list original "
    "before rrp msrp crossed retail through previous reg uvp statt stara standard "
    "stary ancien barre antes oud vorher non "
)
_NOISE_WORDS = words(
    "save saving savings instalment installment installments instalments "
    "klarna afterpay affirm monthly shipping delivery cart sku raty rata "
    "finance financing tier points basket minicart subtotal total unit per "
    "bundle badge label filter range slider "
)
_GRID_WORDS = words(
    "related recommend recommended recommendations upsell upsells "
    "crosssell cross recent recently similar also carousel slider suggest "
    "suggestions others bought viewed accessories bundle complete look "
)
_OUTSIDE = {"header", "footer", "nav", "aside"}
_OLD_TEXT = re.compile(
    r"\b(was|regular price|reg\.?|list price|rrp|msrp|compare at|original price|before|statt|uvp|"
    r"old price|previous price|prix barré|antes|war|ursprünglich\w*|avant|prima|voorheen|było|"
    r"originally)\b",
    re.IGNORECASE,
)
_NOW_TEXT = re.compile(
    r"\b(now|sale price|our price|special price|jetzt|nu|teraz|maintenant|ahora|ora)\b",
    re.IGNORECASE,
)
_NOISE_TEXT = re.compile(
    r"(\bsave\b|\byou save\b|\boff\b|%|\bper month\b|/\s*mo\b|/\s*month\b|\bmonthly\b|"
    r"\binstal+ments?\b|\bpayments? of\b|\b\d+\s*[x×]\s|\binterest|\bklarna\b|\bafterpay\b|"
    r"\bshipping\b|\bdelivery\b|\bversand|\blivraison\b|\benv[ií]o\b|\bverzend|\bporto\b|\bper maand\b|\bmonat|\bpar mois\b|\bal mes\b|miesi[eę]cznie|\btermijn|\braty\b|\brata\b|\bnajni[zż]sza\b|\blowest price\b|\bplan\b|\bfree over\b|\bper (kg|100 ?g|l|litre|liter|unit|item)\b|/\s*(kg|l|100 ?g|m)\b|"
    r"\bsubtotal\b|\btotal\b|\bcart\b|\bbasket\b|\breviews?\b|\bratings?\b)",
    re.IGNORECASE,
)
_BUY = re.compile(
    r"\b(add to (cart|bag|basket|trolley)|buy( it)? now|in den warenkorb|ajouter au panier|"
    r"añadir al carrito|aggiungi al carrello|add-to-cart|addtocart|add_to_cart|product-addtocart)\b",
    re.IGNORECASE,
)
_STRUCK_STYLE = re.compile(r"line-through", re.IGNORECASE)
_DATA_PRICE = (
    "data-price",
    "data-product-price",
    "data-price-amount",
    "data-sale-price",
    "data-final-price",
    "data-current-price",
)
_DATA_OLD = (
    "data-old-price",
    "data-regular-price",
    "data-compare-price",
    "data-compare-at-price",
    "data-original-price",
    "data-list-price",
    "data-was-price",
)
_OLD_TYPES = re.compile(r"old|regular|was|compare|list|original", re.IGNORECASE)
MAX_PRICE_TEXT = 48


@dataclass(frozen=True)
class Candidate:
    """One price on the page and the features it is weighed by."""

    amount: float
    currency: str | None
    text: str
    position: int  # the element's place in document order
    old: bool  # struck through, or marked as the earlier/regular price
    current_words: int  # words such as price, sale, now in classes and ids around it
    noise: bool  # an instalment, a saving, a unit price, a total
    in_grid: bool  # inside a repeated product card or a related-products block
    outside: bool  # in the header, footer, navigation or an aside
    from_attribute: bool  # a data-* attribute rather than text
    bare: bool  # the text is the price and little else


@dataclass(frozen=True)
class Landmarks:
    """Where the product's main heading and buy button are, in document order."""

    heading: int | None
    heading_text: str
    buy: int | None
    size: int  # elements in the document


def elements_in_order(tree: HtmlElement) -> list[HtmlElement]:
    """The elements of the body in document order (scripts, styles, options skipped)."""
    body = tree.find("body")
    root = body if body is not None else tree
    return [
        el
        for el in root.iter()
        if isinstance(el.tag, str) and el.tag not in _SKIPPED and not _inside_skipped(el)
    ]


def _inside_skipped(el: HtmlElement) -> bool:
    parent = el.getparent()
    while parent is not None:
        if parent.tag in _SKIPPED:
            return True
        parent = parent.getparent()
    return False


def landmarks(elements: list[HtmlElement], name_hint: str | None) -> Landmarks:
    """The main heading (the ``h1``, or the heading closest to the product's name) and buy button."""
    order = {id(el): i for i, el in enumerate(elements)}
    headings = [el for el in elements if el.tag == "h1"]
    if not headings:
        headings = [el for el in elements if el.tag in ("h2", "h3") or "title" in _class_words(el)]
    heading = None
    if headings:
        heading = max(
            headings, key=lambda el: similarity(clean_text(el.text_content()), name_hint or "")
        )
        if name_hint is None or similarity(clean_text(heading.text_content()), name_hint) == 0:
            heading = next((el for el in headings if el.tag == "h1"), headings[0])
    buy = next((el for el in elements if _is_buy(el)), None)
    return Landmarks(
        heading=order[id(heading)] if heading is not None else None,
        heading_text=clean_text(heading.text_content()) if heading is not None else "",
        buy=order[id(buy)] if buy is not None else None,
        size=len(elements),
    )


def _is_buy(el: HtmlElement) -> bool:
    if el.tag not in ("button", "input", "a", "form"):
        return False
    if el.tag == "form":
        return bool(
            _BUY.search(el.get("action") or "")
            or re.search(r"/cart|basket", el.get("action") or "")
        )
    label = " ".join(
        [
            el.text_content() if el.tag != "input" else "",
            el.get("value") or "",
            el.get("name") or "",
            el.get("class") or "",
            el.get("id") or "",
        ]
    )
    return bool(_BUY.search(label))


def clean_text(text: str) -> str:
    return " ".join(text.split())


def similarity(a: str, b: str) -> float:
    """Word overlap of two names (Jaccard on lower-case words), 0 to 1."""
    left, right = set(_TOKENS.findall(a.casefold())), set(_TOKENS.findall(b.casefold()))
    if not left or not right:
        return 0.0
    return len(left & right) / len(left | right)


def _class_words(el: HtmlElement) -> set[str]:
    words = f"{el.get('class') or ''} {el.get('id') or ''} {el.get('itemprop') or ''} {el.get('data-testid') or ''}"
    split = re.sub(r"([a-z])([A-Z])", r"\1 \2", words).lower()
    return set(_WORDS.findall(split))


def price_candidates(elements: list[HtmlElement]) -> list[Candidate]:
    """Every price the page shows in a short text, or holds in a ``data-*`` price attribute."""
    grids = _grid_cards(elements)
    found: list[Candidate] = []
    seen_text: set[int] = set()
    for position, el in enumerate(elements):
        for attribute in (*_DATA_PRICE, *_DATA_OLD):
            value = el.get(attribute)
            if value and _DIGIT.search(value):
                price = Price.fromstring(value)
                if price.amount_float:
                    old = attribute in _DATA_OLD or bool(
                        _OLD_TYPES.search(el.get("data-price-type") or "")
                    )
                    found.append(
                        _candidate(
                            el, position, price, value, grids, old_attribute=old, attribute=True
                        )
                    )
        text = _own_price_text(el)
        if text is None or id(el) in seen_text:
            continue
        price = Price.fromstring(text)
        if not price.amount_float or price.amount_float <= 0:
            continue
        if price.currency is None and not (_class_words(el) & {"price", "amount", "money"}):
            continue
        found.append(
            _candidate(el, position, price, text, grids, old_attribute=False, attribute=False)
        )
    return found


def spaced_text(el: HtmlElement) -> str:
    """The element's text with its pieces apart ("from <b>$89</b>to" reads "from $89 to")."""
    return clean_text(" ".join(el.itertext()))


def _own_price_text(el: HtmlElement) -> str | None:
    """The element's text when it is short, holds a number, and no child holds the same."""
    text = spaced_text(el)
    if not text or len(text) > MAX_PRICE_TEXT or not _DIGIT.search(text) or _GLUED.search(text):
        return None
    for child in el:
        if isinstance(child.tag, str) and _DIGIT.search(child.text_content()):
            child_text = spaced_text(child)
            if (
                Price.fromstring(child_text).amount == Price.fromstring(text).amount
                and len(child_text) >= 2
            ):
                return None  # the child is the candidate
    return text


def _candidate(
    el: HtmlElement,
    position: int,
    price: Price,
    text: str,
    grids: set[int],
    old_attribute: bool,
    attribute: bool,
) -> Candidate:
    words: set[str] = set()
    struck = False
    outside = False
    in_grid = False
    for depth, node in enumerate(_ancestors(el)):
        if depth < 4:
            words |= _class_words(node)
        if node.tag in ("del", "s", "strike") or _STRUCK_STYLE.search(node.get("style") or ""):
            struck = struck or depth < 4
        if depth < 4 and _OLD_TYPES.search(node.get("data-price-type") or ""):
            struck = True
        if node.tag in _OUTSIDE or (node.get("role") in ("navigation", "banner", "contentinfo")):
            outside = True
        if id(node) in grids or _class_words(node) & _GRID_WORDS:
            in_grid = True
    context = clean_text(_context_text(el))
    old = (
        old_attribute
        or struck
        or bool(words & _OLD_WORDS and not words & {"sale", "now", "current", "final", "special"})
        or bool(_OLD_TEXT.search(context) and not _NOW_TEXT.search(el.text_content()))
    )
    noise = bool(words & _NOISE_WORDS) or bool(_NOISE_TEXT.search(context))
    amount = price.amount_float or 0.0
    return Candidate(
        amount=amount,
        currency=currency_of(text, price.currency),
        text=text,
        position=position,
        old=old,
        current_words=len(words & _CURRENT_WORDS),
        noise=noise,
        in_grid=in_grid,
        outside=outside,
        from_attribute=attribute,
        bare=len(re.sub(r"[\d.,\s]", "", text)) <= 5,
    )


def _ancestors(el: HtmlElement) -> Iterator[HtmlElement]:
    node: HtmlElement | None = el
    while node is not None and isinstance(node.tag, str):
        yield node
        node = node.getparent()


def _context_text(el: HtmlElement) -> str:
    """The element's text with the words just around it: a label before it ("Was:", "4
    payments of"), found up the tree while the element starts its parent, and a few words after
    ("per month")."""
    before = ""
    node = el
    for _ in range(3):
        previous = node.getprevious()
        parent = node.getparent()
        if previous is not None:
            text = previous.text_content()
            label = text if len(text) <= 40 and not _DIGIT.search(text) else ""
            before = f"{label} {previous.tail or ''}"
            break
        if parent is None:
            break
        if (parent.text or "").strip():
            before = parent.text or ""
            break
        node = parent
    after = (node.tail or "")[:30]
    return f"{before[-40:]} {el.text_content()} {after}"


def _grid_cards(elements: list[HtmlElement]) -> set[int]:
    """Elements repeated as siblings (three or more of one tag and class) that each hold a price:
    the cards of a product grid."""
    cards: set[int] = set()
    for el in elements:
        children = [c for c in el if isinstance(c.tag, str)]
        if len(children) < 3:
            continue
        shapes = Counter((c.tag, c.get("class") or "") for c in children)
        for child in children:
            if shapes[(child.tag, child.get("class") or "")] >= 3 and _holds_price(child):
                cards.add(id(child))
    return cards


def _holds_price(el: HtmlElement) -> bool:
    text = el.text_content()
    if not _DIGIT.search(text) or len(text) > 600:
        return False
    price = Price.fromstring(text)
    return price.currency is not None and bool(price.amount_float)


def score(candidate: Candidate, marks: Landmarks) -> float:
    """How likely the candidate is the product's current price, 0 to 1 (old prices score as if
    they were current: ``Candidate.old`` tells them apart)."""
    logit = -1.0
    logit += 1.2 if candidate.currency else 0.0
    logit += 0.6 if candidate.bare else -0.6
    logit += min(candidate.current_words, 2) * 0.6
    logit += 0.4 if candidate.from_attribute else 0.0
    logit -= 2.5 if candidate.noise else 0.0
    logit -= 3.0 if candidate.in_grid else 0.0
    logit -= 2.5 if candidate.outside else 0.0
    logit += _nearness(candidate.position, marks)
    return 1 / (1 + math.exp(-logit))


def _nearness(position: int, marks: Landmarks) -> float:
    """A bonus for lying just after the main heading and before (or near) the buy button."""
    bonus = 0.0
    span = max(marks.size, 50)
    if marks.heading is not None:
        gap = position - marks.heading
        bonus += 1.2 * math.exp(-abs(gap) / (0.08 * span)) if gap >= -3 else -0.3
    if marks.buy is not None:
        gap = marks.buy - position
        bonus += 0.8 * math.exp(-abs(gap) / (0.08 * span)) if gap >= -5 else 0.0
    return bonus


def main_image(tree: HtmlElement, elements: list[HtmlElement], marks: Landmarks) -> str | None:
    """The product's picture: the first image in a gallery-like block, or the first large image
    near the main heading."""
    gallery = {"gallery", "media", "image", "images", "photo", "photos", "zoom", "main", "primary", "featured", "hero"}  # fmt: skip
    for position, el in enumerate(elements):
        if (
            el.tag != "img"
            or marks.heading is None
            or abs(position - marks.heading) > 0.3 * max(marks.size, 50)
        ):
            continue
        source = (
            el.get("data-zoom-image")
            or el.get("data-large_image")
            or el.get("data-src")
            or el.get("src")
        )
        if not source or source.startswith("data:"):
            continue
        words = set().union(*(_class_words(node) for node in list(_ancestors(el))[:4]))
        if words & gallery and not words & (
            _GRID_WORDS | {"logo", "icon", "thumb", "thumbnail", "avatar"}
        ):
            return source
    return None


def breadcrumb(tree: HtmlElement, product_name: str | None) -> str | None:
    """The deepest category of the page's breadcrumb trail (the product itself and "Home" aside)."""
    trails = lxml.etree.XPath(
        "//*[contains(translate(@class, 'BREADCRUMB', 'breadcrumb'), 'breadcrumb') or "
        "contains(@id, 'breadcrumb') or @aria-label='breadcrumb' or @aria-label='Breadcrumb']"
    )(tree)
    for trail in trails:
        links = [
            clean_text(a.text_content())
            for a in trail.iter("a", "span", "li")
            if a.tag == "a" or not list(a)
        ]
        names = [
            n
            for n in dict.fromkeys(links)
            if n
            and n.strip("›>/|»")
            and n.lower() not in ("home", "shop", "start", "startseite", "accueil", "inicio")
        ]
        names = [n for n in names if not product_name or similarity(n, product_name) < 0.6]
        if names:
            return names[-1].strip("›>/|» ")
    return None


def near_product(elements: list[HtmlElement], marks: Landmarks) -> list[HtmlElement]:
    """The elements around the main heading and buy button (where a product's details are),
    those inside a related-products block aside."""
    anchors = [p for p in (marks.heading, marks.buy) if p is not None]
    if not anchors:
        return []
    inside: dict[int, bool] = {}
    for el in elements:  # document order: a parent before its children
        parent = el.getparent()
        inside[id(el)] = inside.get(id(parent), False) or bool(_class_words(el) & _GRID_WORDS)
    reach = max(40, marks.size // 5)
    window = elements[max(0, min(anchors) - 10) : max(anchors) + reach]
    return [el for el in window if not inside[id(el)]]


def description(near: list[HtmlElement]) -> str | None:
    """The text of the first description block among the elements near the product."""
    for el in near:
        words = _class_words(el)
        if "description" in words and not words & _GRID_WORDS:
            text = spaced_text(el)
            if 20 <= len(text) <= 2000:
                return text
    return None


def brand(near: list[HtmlElement]) -> str | None:
    """A brand named near the product: a ``data-brand`` attribute, or a short brand/vendor block."""
    for el in near:
        value = el.get("data-brand") or el.get("data-product-brand")
        if value and value.strip():
            return value.strip()
    for el in near:
        if _class_words(el) & {"brand", "vendor", "manufacturer"} and el.tag != "img":
            text = re.sub(r"^(by|von|par|de|door)\s+", "", spaced_text(el), flags=re.IGNORECASE)
            if text and len(text) <= 40 and not _DIGIT.search(text) and ":" not in text:
                return text
    return None
