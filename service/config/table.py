"""The README's configuration table: its rows, and values spelled as a person types them."""

from __future__ import annotations

from dataclasses import dataclass


def spell(value: object) -> str:
    """A value as a person would type it: `300`, not `300.0`; `true`; a list comma-separated."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, tuple):
        return ",".join(spell(v) for v in value)
    return str(value)


@dataclass(frozen=True, slots=True)
class Row:
    """One line of the README's configuration table."""

    name: str
    default: str
    help: str
