"""Source specs: the YAML that says what to fetch, how, and what to extract.

A spec is validated once, at the edge, into frozen pydantic models; every mistake is
reported as one :class:`~core.errors.InvalidInputError` sentence that names the bad
key (``item.fields.price.type``) and what it should be. ``load_spec`` also resolves
relative ``start_urls`` against a base URL (``--base-url``, the spec's ``base_url`` or,
for ``{demo}``, ``$HARVEST_DEMO_URL``), so bundled specs run wherever the demo site runs.
See ``docs/scraping.md`` for every key.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import yaml
from croniter import croniter
from parsel import Selector
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.errors import InvalidInputError

DEFAULT_DEMO_URL = "http://127.0.0.1:8700"
"""Where ``harvest site serve`` listens by default; ``$HARVEST_DEMO_URL`` overrides it."""

FieldType = Literal["text", "int", "float", "price", "date", "url", "bool", "image", "file"]
Extractor = Literal["jsonld", "microdata", "opengraph", "article", "tables", "product"]
Render = Literal["http", "browser"]
MEDIA_TYPES = ("image", "file")
PROVENANCE = ("_url", "_fetched_at", "_status", "_source", "_run_id", "_content_hash")
VOLATILE = ("_fetched_at", "_status", "_run_id", "_content_hash")
"""Provenance columns that change on every fetch: left out of content hashes and diffs."""

# The fixed columns each automatic extractor (scrapers/extract.py) gives a record, by type.
STRUCTURED: dict[str, str] = {
    "name": "text",
    "description": "text",
    "sku": "text",
    "gtin": "text",
    "mpn": "text",
    "brand": "text",
    "price": "float",
    "currency": "text",
    "availability": "text",
    "condition": "text",
    "category": "text",
    "image": "text",
    "url": "text",
    "rating": "float",
    "review_count": "int",
    "author": "text",
    "date_published": "date",
    "schema_type": "text",
}
ARTICLE: dict[str, str] = {
    "title": "text",
    "author": "text",
    "date": "date",
    "text": "text",
    "description": "text",
    "sitename": "text",
    "categories": "text",
    "tags": "text",
}
TABLES: dict[str, str] = {"_table": "text", "_row": "int", "_section": "text"}
PRODUCT: dict[str, str] = {
    "name": "text",
    "price": "float",
    "currency": "text",
    "regular_price": "float",
    "availability": "text",
    "sku": "text",
    "gtin": "text",
    "mpn": "text",
    "brand": "text",
    "images": "texts",
    "description": "text",
    "category": "text",
}
"""The fields of the ``product`` extractor (``texts``: a list of text); each brings
``<field>_confidence`` (float) and ``<field>_source`` (text) beside it."""


def product_columns(fields: tuple[str, ...] = tuple(PRODUCT)) -> dict[str, str]:
    """The columns of the ``product`` extractor for these fields, with their types."""
    columns: dict[str, str] = {}
    for field in fields:
        columns.update(
            {field: PRODUCT[field], f"{field}_confidence": "float", f"{field}_source": "text"}
        )
    return columns


COLUMN_TYPES: dict[str, str] = {**STRUCTURED, **ARTICLE, **TABLES, **product_columns()}
"""The type (a field type name) of every fixed extractor column."""


def columns_of(extractor: str) -> tuple[str, ...]:
    """The fixed columns an extractor produces."""
    if extractor == "article":
        return tuple(ARTICLE)
    if extractor == "tables":
        return tuple(TABLES)
    if extractor == "product":
        return tuple(product_columns())
    return tuple(STRUCTURED)


_COLUMN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
_PROBE = Selector(text="<html><body></body></html>")


def _check_css(expr: str) -> str:
    try:
        _PROBE.css(expr)
    except Exception as error:
        raise ValueError(f"is not a valid CSS selector ({error})") from error
    return expr


def _check_xpath(expr: str) -> str:
    try:
        _PROBE.xpath(expr)
    except Exception as error:
        raise ValueError(f"is not a valid XPath expression ({error})") from error
    return expr


def _check_regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as error:
        raise ValueError(f"is not a valid regular expression ({error})") from error
    return pattern


def is_xpath(expr: str) -> bool:
    """Whether a bare selector string (``item.each``) is XPath rather than CSS."""
    return expr.startswith(("/", "./", "(", "descendant", "self::"))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Processor(_Model):
    """One text processor: ``strip``, ``join`` (with a separator) or ``regex`` (first group)."""

    kind: Literal["strip", "join", "regex"]
    arg: str = ""

    @model_validator(mode="before")
    @classmethod
    def _from_yaml(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"kind": value, "arg": " " if value == "join" else ""}
        if isinstance(value, Mapping) and len(value) == 1 and "kind" not in value:
            ((kind, arg),) = value.items()
            return {"kind": kind, "arg": arg if arg is not None else ""}
        return value

    @model_validator(mode="after")
    def _check(self) -> Processor:
        if self.kind == "regex":
            _check_regex(self.arg)
        return self


class _Selecting(_Model):
    """A ``css`` or ``xpath`` selector, checked when the spec is read; a bare string is CSS."""

    css: str | None = None
    xpath: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        return {"css": value} if isinstance(value, str) else value

    @field_validator("css")
    @classmethod
    def _valid_css(cls, value: str | None) -> str | None:
        return value if value is None else _check_css(value)

    @field_validator("xpath")
    @classmethod
    def _valid_xpath(cls, value: str | None) -> str | None:
        return value if value is None else _check_xpath(value)


class FieldSpec(_Selecting):
    """One field of an item: where it is (CSS or XPath), how many, its type and processors."""

    many: bool = False
    type: FieldType = "text"
    processors: tuple[Processor, ...] = ()

    @model_validator(mode="after")
    def _one_selector(self) -> FieldSpec:
        if (self.css is None) == (self.xpath is None):
            raise ValueError("needs exactly one of `css` or `xpath`")
        if self.many and self.type == "price":
            raise ValueError("cannot be `many` with type price: extract one price per record")
        return self


class ItemSpec(_Model):
    """What one record is: ``each`` match (or the page), on ``pages`` matching a pattern."""

    each: str | None = None
    pages: str | None = None
    fields: dict[str, FieldSpec] = Field(default_factory=dict)

    @field_validator("each")
    @classmethod
    def _valid_each(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return _check_xpath(value) if is_xpath(value) else _check_css(value)

    @field_validator("pages")
    @classmethod
    def _valid_pages(cls, value: str | None) -> str | None:
        return value if value is None else _check_regex(value)

    @field_validator("fields")
    @classmethod
    def _valid_names(cls, value: dict[str, FieldSpec]) -> dict[str, FieldSpec]:
        for name in value:
            if not _COLUMN.match(name):
                raise ValueError(
                    f"has a field named '{name}': use lower-case letters, digits and "
                    "underscores, starting with a letter"
                )
        return value


class FollowRule(_Selecting):
    """Links to follow: those inside ``css``/``xpath`` matches, or anywhere, whose URL matches ``pattern``."""

    pattern: str | None = None
    render: Render | None = None

    @field_validator("pattern")
    @classmethod
    def _valid_pattern(cls, value: str | None) -> str | None:
        return value if value is None else _check_regex(value)

    @model_validator(mode="after")
    def _selects_something(self) -> FollowRule:
        if self.css is None and self.xpath is None and self.pattern is None:
            raise ValueError("needs `css`, `xpath` or `pattern` to say which links to follow")
        if self.css is not None and self.xpath is not None:
            raise ValueError("takes `css` or `xpath`, not both")
        return self


class Limits(_Model):
    """How far a crawl may go."""

    max_pages: int = Field(
        default=1000, ge=1
    )  # pages fetched (requests scheduled), start URLs included
    depth: int = Field(default=10, ge=0)  # link hops from a start URL; 0 = unlimited
    max_bytes: int = Field(default=10 * 1024 * 1024, ge=1024)  # larger responses are cancelled
    timeout: float = Field(default=30.0, gt=0)  # seconds per request


class Politeness(_Model):
    """How gently to crawl."""

    delay: float = Field(
        default=0.5, ge=0
    )  # seconds between requests to one site (AutoThrottle's floor)
    concurrency: int = Field(default=8, ge=1, le=256)  # requests in flight at once (per site too)
    robots: bool = True  # obey robots.txt
    autothrottle: bool = True  # adapt the delay to the site's latency (AutoThrottle)


class ProductOptions(_Model):
    """What the ``product`` extractor gives: which of its fields (all by default)."""

    fields: tuple[str, ...] = tuple(PRODUCT)

    @field_validator("fields", mode="before")
    @classmethod
    def _known(cls, value: Any) -> Any:
        names = (value,) if isinstance(value, str) else tuple(value or ())
        for name in names:
            if name not in PRODUCT:
                raise ValueError(
                    f"has '{name}', which is not a product field (one of: {', '.join(PRODUCT)})"
                )
        if not names:
            raise ValueError("must name at least one product field")
        return names


class SourceSpec(_Model):
    """A validated source spec (see ``docs/scraping.md``)."""

    name: str
    title: str = ""
    description: str = ""
    license: str = ""
    tags: tuple[str, ...] = ()
    publisher: str = ""
    base_url: str | None = None
    start_urls: tuple[str, ...] = Field(min_length=1)
    allowed_domains: tuple[str, ...] = ()
    follow: tuple[FollowRule, ...] = ()
    limits: Limits = Limits()
    render: Render = "http"
    wait_for: str | None = None
    scroll: int = Field(default=0, ge=0, le=100)
    item: ItemSpec | None = None
    extract: tuple[Extractor, ...] = ()
    product: ProductOptions = ProductOptions()
    key: tuple[str, ...] = ("_url",)
    schedule: str | None = None
    politeness: Politeness = Politeness()
    cache: bool = True
    spider: str | None = None

    @field_validator("name")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not _COLUMN.match(value):
            raise ValueError(
                "must be lower-case letters, digits and underscores, starting with a letter "
                "(it names the dataset raw.<name>)"
            )
        return value

    @field_validator("key", "tags", "start_urls", "allowed_domains", "extract", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("wait_for")
    @classmethod
    def _valid_wait_for(cls, value: str | None) -> str | None:
        return value if value is None else _check_css(value)

    @field_validator("schedule")
    @classmethod
    def _valid_schedule(cls, value: str | None) -> str | None:
        if value is not None and not croniter.is_valid(value):
            raise ValueError(f"'{value}' is not a cron expression such as '0 6 * * *'")
        return value

    @field_validator("spider")
    @classmethod
    def _valid_spider(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w.]+:\w+$", value):
            raise ValueError("must name a spider class as 'package.module:ClassName'")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> SourceSpec:
        browser = self.render == "browser" or any(r.render == "browser" for r in self.follow)
        if (self.wait_for or self.scroll) and not browser:
            raise ValueError(
                "uses `wait_for` or `scroll`, which only apply with `render: browser` "
                "(on the spec or a follow rule)"
            )
        if "product" in self.model_fields_set and "product" not in self.extract:
            raise ValueError("has `product` options but no `product` in `extract`")
        known = set(self.columns())
        for column in self.key:
            if column not in known and "tables" not in self.extract:
                raise ValueError(
                    f"`key` names '{column}', which no field or extractor of this spec "
                    f"produces (it has: {', '.join(sorted(known))})"
                )
        return self

    # -- derived ----------------------------------------------------------------------

    @property
    def uses_browser(self) -> bool:
        return self.render == "browser" or any(r.render == "browser" for r in self.follow)

    @property
    def media_fields(self) -> tuple[str, ...]:
        """Names of the fields whose files are downloaded (``type: image`` or ``file``)."""
        fields = self.item.fields if self.item else {}
        return tuple(name for name, f in fields.items() if f.type in MEDIA_TYPES)

    def columns(self) -> tuple[str, ...]:
        """The columns this spec's records can have (table headers aside), provenance included."""
        names: list[str] = []
        for name, field in (self.item.fields if self.item else {}).items():
            names.append(name)
            if field.type == "price":
                names.append(f"{name}_currency")
            if field.type in MEDIA_TYPES:
                names.append(f"{name}_url")
        for extractor in self.extract:
            found = (
                product_columns(self.product.fields)
                if extractor == "product"
                else columns_of(extractor)
            )
            names.extend(c for c in found if c not in names)
        return (*names, *PROVENANCE)

    @property
    def allowed_hosts(self) -> tuple[str, ...]:
        """``allowed_domains``, or the hosts of the start URLs."""
        if self.allowed_domains:
            return self.allowed_domains
        hosts = (urlsplit(url).hostname for url in self.start_urls)
        return tuple(dict.fromkeys(h for h in hosts if h))


def demo_url() -> str:
    """The demo site's base URL: ``$HARVEST_DEMO_URL`` or the default port of ``harvest site serve``."""
    return os.environ.get("HARVEST_DEMO_URL") or DEFAULT_DEMO_URL


def parse_spec(data: Any, origin: str, base_url: str | None = None) -> SourceSpec:
    """Validate ``data`` (parsed YAML) as a source spec and resolve its start URLs."""
    if not isinstance(data, Mapping):
        raise InvalidInputError(
            f"Source spec {origin} must be a YAML mapping of keys such as name and start_urls."
        )
    try:
        spec = SourceSpec.model_validate(dict(data))
    except ValidationError as error:
        raise InvalidInputError(f"Source spec {origin}: {_sentence(error)}") from None
    return _resolve(spec, origin, base_url)


# libyaml's safe loader when PyYAML was built with it: a spec listing thousands of start
# URLs parses in milliseconds instead of a quarter second, in the parent and the crawl child.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_spec(path: str | os.PathLike[str], base_url: str | None = None) -> SourceSpec:
    """Read, validate and resolve the source spec at ``path``."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"Cannot read source spec {file}: {error.strerror}.") from None
    try:
        data = yaml.load(text, Loader=_SAFE_LOADER)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise InvalidInputError(
            f"Source spec {file.name} is not valid YAML{where}: fix the syntax."
        ) from None
    return parse_spec(data, file.name, base_url)


def _resolve(spec: SourceSpec, origin: str, base_url: str | None) -> SourceSpec:
    base = base_url or spec.base_url
    if base is not None:
        base = base.replace("{demo}", demo_url())
    urls = []
    for url in spec.start_urls:
        if urlsplit(url).scheme:
            urls.append(url)
        elif base is None:
            raise InvalidInputError(
                f"Source spec {origin}: `start_urls` has the relative URL '{url}'; give a "
                "`base_url` in the spec or --base-url on the command line."
            )
        else:
            urls.append(urljoin(base.rstrip("/") + "/", url.lstrip("/")))
    for url in urls:
        if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
            raise InvalidInputError(
                f"Source spec {origin}: `start_urls` has '{url}', which is not an http(s) URL."
            )
    return spec.model_copy(update={"start_urls": tuple(urls), "base_url": base})


def _sentence(error: ValidationError) -> str:
    """The first validation error as one sentence naming the key."""
    first = error.errors()[0]
    loc = _key_path(first["loc"])
    kind, message = first["type"], first["msg"]
    if kind == "extra_forbidden":
        return f"unknown key `{loc}`; check its spelling against docs/scraping.md."
    if kind == "missing":
        return f"`{loc}` is required."
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
        return f"`{loc}` {message}." if loc else f"the spec {message}."
    got = first.get("input")
    shown = f" (got {got!r})" if not isinstance(got, Mapping | list) else ""
    return f"`{loc}`: {message[0].lower()}{message[1:]}{shown}."


def _key_path(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for part in loc:
        if isinstance(part, int):
            parts.append(f"[{part}]")
        elif parts:
            parts.append(f".{part}")
        else:
            parts.append(str(part))
    return "".join(parts)
