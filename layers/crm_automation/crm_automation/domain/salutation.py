"""How a personal e-mail greets its reader: Czech vocative ("Dobrý den, pane Nováku", "Dobrý den, paní Nováková")
via the `vokativ` package (declension tables of Czech names), with a neutral greeting when a name cannot be
declined safely: no surname, something that is not a single name, or first and last name disagreeing on gender."""

from __future__ import annotations

import re

from vokativ import sex, vokativ

_NAME = re.compile(r"^[^\W\d_]+(?:-[^\W\d_]+)?$")  # one word of letters, optionally double-barrelled


def _capitalised(word: str) -> str:
    return "-".join(part[:1].upper() + part[1:] for part in word.split("-"))


def _gender(first_name: str | None, last_name: str) -> str | None:
    by_last = sex(last_name.split("-")[-1])
    if first_name and _NAME.match(first_name):
        by_first = sex(first_name)
        if by_first != by_last:
            return None  # e.g. a foreign name the tables guess differently: do not risk "pane" for a woman
    return by_last


def gender_of(full_name: str | None) -> str | None:
    """'m' / 'w' for a "First Last" Czech name (first and last must agree), else None (e.g. a team name)."""
    parts = (full_name or "").split()
    if len(parts) != 2 or not all(_NAME.match(p) for p in parts):
        return None
    return _gender(parts[0], parts[1])


def czech_salutation(first_name: str | None, last_name: str | None) -> str | None:
    """'pane Nováku' / 'paní Nováková', or None when the name cannot be declined safely."""
    if not last_name:
        return None
    last = last_name.strip()
    if not _NAME.match(last):
        return None
    gender = _gender(first_name.strip() if first_name else None, last)
    if gender == "m":
        return f"pane {_capitalised(vokativ(last, woman=False, last_name=True))}"
    if gender == "w":
        return f"paní {_capitalised(last)}"  # Czech women's surnames keep their form in the vocative
    return None


def greeting(first_name: str | None, last_name: str | None, locale: str) -> str:
    """The whole first line: 'Dobrý den, pane Nováku,' / 'Dobrý den,' / 'Hello Jana Nováková,' / 'Hello,'."""
    if locale == "cs":
        polite = czech_salutation(first_name, last_name)
        return f"Dobrý den, {polite}," if polite else "Dobrý den,"
    name = " ".join(p for p in (first_name, last_name) if p)
    return f"Hello {name}," if name else "Hello,"
