"""Readable English from word lists: headlines, paragraphs, product copy and reviews.

Everything takes a :class:`random.Random` so that the same seed writes the same words.
The sentences are templates filled from a section's vocabulary, so sections differ in
what they talk about while sharing the grammar around it.
"""

from __future__ import annotations

import random
import re
import unicodedata

from demo_site.words import (
    CONNECTORS,
    COUNTS,
    FIRST_NAMES,
    LAST_NAMES,
    MODALS,
    REVIEW_DETAILS,
    REVIEW_OPENERS,
    REVIEW_TITLES,
    TIMES,
    CategoryWords,
    SectionWords,
)


def slugify(text: str) -> str:
    """A URL slug: ASCII, lower case, words joined by hyphens."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def plural(noun: str) -> str:
    """The plural of a regular English noun phrase (its last word is pluralised)."""
    if noun.endswith(("s", "x", "ch", "sh")):
        return noun + "es"
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def with_article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front."""
    return ("an " if phrase[0].lower() in "aeiou" else "a ") + phrase


def capitalise(sentence: str) -> str:
    """The sentence with its first letter in upper case (the rest untouched)."""
    return sentence[:1].upper() + sentence[1:]


def person(rng: random.Random) -> str:
    """A full name."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)}"


def _sentence(rng: random.Random, words: SectionWords) -> str:
    subject = rng.choice(words.subjects)
    noun = rng.choice(words.nouns)
    other = rng.choice(words.nouns)
    adjective = rng.choice(words.adjectives)
    base, past = rng.choice(words.verbs)
    templates = (
        lambda: f"{subject} {past} {with_article(adjective + ' ' + noun)} {rng.choice(TIMES)}.",
        lambda: (
            f"{rng.choice(CONNECTORS)} {subject} {past} the {noun} in {rng.choice(words.places)}."
        ),
        lambda: (
            f'"The {noun} is more {adjective} than anyone expected," said {person(rng)}, '
            f"{rng.choice(words.roles)}."
        ),
        lambda: f"Few {plural(other)} have been {past} as often as the {adjective} {noun}.",
        lambda: (
            f"By {rng.randint(2026, 2032)}, {subject} {rng.choice(MODALS)} {base} "
            f"{with_article(adjective + ' ' + noun)} for {rng.choice(words.audiences)}."
        ),
        lambda: f"It is {with_article(adjective + ' ' + noun)}, but {subject} {past} it anyway.",
        lambda: (
            f"{person(rng)} first {past} the {noun} {rng.choice(TIMES)}, "
            f"and the results were {rng.choice(words.results)}."
        ),
        lambda: (
            f"Critics argue that the {noun} {rng.choice(MODALS)} {base} "
            f"the {adjective} {other} in {rng.choice(words.places)}."
        ),
        lambda: (
            f"In {rng.choice(words.places)}, {subject} {past} {rng.choice(COUNTS)} "
            f"{plural(other)} before the {noun} was {rng.choice(words.results)}."
        ),
        lambda: f"For {rng.choice(words.audiences)}, the {adjective} {noun} changes everything.",
        lambda: (
            f"Nobody in {rng.choice(words.places)} had {past} {with_article(noun)} quite like it."
        ),
        lambda: (
            f"The question now is whether {subject} can {base} the {other} "
            f"without losing the {adjective} {noun}."
        ),
    )
    return capitalise(rng.choice(templates)())


def paragraph(rng: random.Random, words: SectionWords) -> str:
    """Three to six sentences about a section's subjects."""
    return " ".join(_sentence(rng, words) for _ in range(rng.randint(3, 6)))


def headline(rng: random.Random, words: SectionWords) -> str:
    """An article title."""
    noun = rng.choice(words.nouns)
    adjective = rng.choice(words.adjectives)
    _, past = rng.choice(words.verbs)
    templates = (
        lambda: f"How {rng.choice(words.subjects)} {past} the {adjective} {noun}",
        lambda: f"Why the {adjective} {noun} matters more than ever",
        lambda: f"{rng.randint(3, 12)} things to know about the {noun}",
        lambda: f"Inside the {adjective} {noun} of {rng.choice(words.places)}",
        lambda: f"The {noun} that {rng.choice(words.subjects)} {past}",
        lambda: f"A {adjective} {noun} for {rng.choice(words.audiences)}",
        lambda: f"What {rng.choice(words.places)} teaches us about the {noun}",
    )
    return capitalise(rng.choice(templates)())


def subheading(rng: random.Random, words: SectionWords) -> str:
    """A short heading inside an article body."""
    return capitalise(
        rng.choice(
            (
                f"The {rng.choice(words.nouns)}",
                f"Back in {rng.choice(words.places)}",
                f"What comes next for {rng.choice(words.audiences)}",
                f"A {rng.choice(words.adjectives)} turn",
            )
        )
    )


def product_sentences(rng: random.Random, words: CategoryWords) -> list[str]:
    """Two or three sentences of product copy."""
    features = rng.sample(words.features, k=min(3, len(words.features)))
    adjective = rng.choice(("Dependable", "Beautifully made", "Versatile", "Thoughtful", "Sturdy"))
    sentences = [
        f"{adjective} and made for everyday use.",
        f"Features: {', '.join(features)}.",
    ]
    if rng.random() < 0.6:
        sentences.append(
            rng.choice(
                (
                    "Our customers' favourite for three seasons running.",
                    "Designed in Europe, built to last.",
                    "Pairs well with the rest of the range.",
                    "Limited run; once it's gone, it's gone.",
                )
            )
        )
    return sentences


def review_text(rng: random.Random, rating: int, words: CategoryWords) -> tuple[str, str]:
    """A review title and body that agree with its star rating."""
    detail = rng.choice(REVIEW_DETAILS).format(
        feature=rng.choice(words.features),
        days=rng.randint(2, 9),
        finish=rng.choice(("matte", "glossy", "natural", "brushed", "two-tone")),
    )
    body = f"{rng.choice(REVIEW_OPENERS[rating])} {detail}"
    return rng.choice(REVIEW_TITLES[rating]), body


def reviewer(rng: random.Random) -> str:
    """A reviewer's display name: first name and last initial."""
    return f"{rng.choice(FIRST_NAMES)} {rng.choice(LAST_NAMES)[0]}."
