"""Declaring a setting once, on the dataclass field that holds it: where it is read from (an
environment variable, or a TOML entry an environment variable may override), its kind, its
default and its help. Reading, error messages and the README's table are derived from these
declarations by walking the dataclass's fields, so none of them can drift from the code."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import Field, dataclass, field, fields
from typing import Any, TypeVar

from service.config.kinds import Kind, Scalar
from service.config.table import Row, spell

T = TypeVar("T")
D = TypeVar("D", "Variable", "Entry")

_KEY = "service.config"  # the field metadata key holding the declaration


class SettingsError(ValueError):
    """One or more settings are invalid; the message names each of them."""


@dataclass(frozen=True, slots=True)
class Variable:
    """A field read from one environment variable."""

    env: str
    kind: Kind[Any]
    help: str


@dataclass(frozen=True, slots=True)
class Entry:
    """A field read from `[section] name` of a TOML file, or from `env` when that is set."""

    section: str
    name: str
    kind: Scalar[Any]
    help: str
    env: str | None

    def read(
        self, table: Mapping[str, object], environ: Mapping[str, str], default: Any
    ) -> tuple[Any, list[str]]:
        if self.env and environ.get(self.env, "").strip():
            return self.kind.from_env(self.env, environ, default)
        return self.kind.from_toml(self.section, table, self.name, default)

    def override_row(self, default: Any) -> Row | None:
        if self.env is None:
            return None
        return Row(self.env, "", f"Overrides `{self.section}.{self.name}` ({spell(default)}).")


def setting(env: str, kind: Kind[T], *, default: T, help: str) -> T:
    """A dataclass field read from the environment variable `env`."""
    return field(default=default, metadata={_KEY: Variable(env, kind, help)})


def entry(
    section: str, name: str, kind: Scalar[T], *, default: T, help: str, env: str | None = None
) -> T:
    """A dataclass field read from a TOML entry, which the variable `env` may override."""
    return field(default=default, metadata={_KEY: Entry(section, name, kind, help, env)})


def declared(cls: type[Any], what: type[D]) -> list[tuple[Field[Any], D]]:
    """The fields of dataclass `cls` declared as `what`, in their order."""
    found = [(f, f.metadata.get(_KEY)) for f in fields(cls)]
    return [(f, spec) for f, spec in found if isinstance(spec, what)]


def read_env(cls: type[Any], environ: Mapping[str, str]) -> tuple[dict[str, Any], list[str]]:
    """Each declared variable of `cls` by field name, and every problem found."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for f, var in declared(cls, Variable):
        values[f.name], found = var.kind.from_env(var.env, environ, f.default)
        problems += found
    return values, problems


def rows(cls: type[Any]) -> list[Row]:
    """The README's rows for the variables `cls` declares, in field order."""
    found: list[Row] = []
    for f, var in declared(cls, Variable):
        found += var.kind.rows(var.env, f.default, var.help)
    return found


def markdown(table: Iterable[Row]) -> str:
    lines = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for row in table:
        default = f"`{row.default}`" if row.default else "(empty)"
        lines.append(f"| `{row.name}` | {default} | {row.help} |")
    return "\n".join(lines) + "\n"
