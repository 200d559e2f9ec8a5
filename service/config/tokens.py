"""Who may call `/api/*`: bearer tokens, each named, each allowed every project or a list.

Three variables feed one `Tokens`:
- `API_TOKEN`: one token, named `default`, allowed every project (the original setting);
- `API_TOKENS`: inline, `name=token:project,project; name=token:*`;
- `API_TOKENS_FILE`: a TOML file of `[[token]]` tables (`name`, `token` or `token_sha256`,
  `projects` as a list or `"*"`), so plaintext tokens need not be written anywhere.

A presented token is looked up by its SHA-256 (one dict lookup, no comparison that leaks
where the bytes differ). Each name is also what the upstream budget shares fairly by
(fleet/queue.py): one client's cold backlog cannot hold up another's ask.
"""

from __future__ import annotations

import hashlib
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from service.config.kinds import Kind
from service.config.table import Row
from service.identifiers import PROJECT_ID_RE

MIN_LENGTH = 16  # a bearer token short enough to guess protects nothing
NAME_RE = re.compile(r"[A-Za-z0-9_.-]{1,40}")
TOKEN_RE = re.compile(rf"[A-Za-z0-9._~+/=-]{{{MIN_LENGTH},512}}")
DIGEST_RE = re.compile(r"[0-9a-f]{64}")
EVERY = "*"


def digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


@dataclass(frozen=True, slots=True)
class Grant:
    """One token's name and the projects it may read (None: every project)."""

    name: str
    projects: frozenset[str] | None

    def allows(self, project_id: str) -> bool:
        return self.projects is None or project_id in self.projects


@dataclass(frozen=True)
class Tokens:
    by_digest: Mapping[bytes, Grant] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.by_digest)

    def find(self, presented: str) -> Grant | None:
        return self.by_digest.get(digest(presented)) if presented else None

    @property
    def grants(self) -> list[Grant]:
        return sorted(self.by_digest.values(), key=lambda g: g.name)

    def __str__(self) -> str:  # Settings.describe: names and scopes, never a token
        return ", ".join(
            f"{g.name}:{EVERY if g.projects is None else len(g.projects)}" for g in self.grants
        )

    __repr__ = __str__


def _projects(raw: object, where: str) -> frozenset[str] | None:
    if raw == EVERY:
        return None
    items = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise ValueError(f"{where}: projects must be {EVERY!r} or a non-empty list of ids")
    bad = [p for p in items if not isinstance(p, str) or not PROJECT_ID_RE.fullmatch(p.strip())]
    if bad:
        raise ValueError(f"{where}: {bad[0]!r} is not a project id ({PROJECT_ID_RE.pattern})")
    return frozenset(p.strip() for p in items)


def _entry(
    name: object, token: object, hashed: object, projects: object, where: str
) -> tuple[bytes, Grant]:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
        raise ValueError(f"{where}: name must match {NAME_RE.pattern}")
    if (token is None) == (hashed is None):
        raise ValueError(f"{where} ({name}): give exactly one of token and token_sha256")
    if token is not None:
        if not isinstance(token, str) or not TOKEN_RE.fullmatch(token):
            raise ValueError(
                f"{where} ({name}): the token must be {MIN_LENGTH} to 512 characters of "
                "letters, digits and ._~+/=-"
            )
        key = digest(token)
    else:
        if not isinstance(hashed, str) or not DIGEST_RE.fullmatch(hashed):
            raise ValueError(f"{where} ({name}): token_sha256 must be 64 lowercase hex digits")
        key = bytes.fromhex(hashed)
    return key, Grant(name, _projects(projects, f"{where} ({name})"))


def parse_inline(raw: str) -> list[tuple[bytes, Grant]]:
    """`name=token:projects; ...` (the token may not contain `:` or `;`)."""
    found = []
    for n, part in enumerate(p.strip() for p in raw.split(";")):
        if not part:
            continue
        name, eq, rest = part.partition("=")
        token, colon, projects = rest.rpartition(":")
        if not eq or not colon:
            raise ValueError(f"entry {n + 1} must be name=token:projects")
        found.append(_entry(name.strip(), token.strip(), None, projects.strip(), f"entry {n + 1}"))
    return found


def parse_file(path: str) -> list[tuple[bytes, Grant]]:
    try:
        with open(path, "rb") as file:
            doc: dict[str, Any] = tomllib.load(file)
    except OSError as exc:
        raise ValueError(f"cannot be read ({exc.strerror})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"not valid TOML ({exc})") from None
    extra = sorted(set(doc) - {"token"})
    tables = doc.get("token", [])
    if extra or not isinstance(tables, list):
        raise ValueError("holds only [[token]] tables")
    found = []
    for n, table in enumerate(tables):
        where = f"[[token]] {n + 1}"
        unknown = sorted(set(table) - {"name", "token", "token_sha256", "projects"})
        if unknown:
            raise ValueError(f"{where}: unknown key {unknown[0]!r}")
        found.append(
            _entry(
                table.get("name"),
                table.get("token"),
                table.get("token_sha256"),
                table.get("projects"),
                where,
            )
        )
    return found


class ApiTokens(Kind[Tokens]):
    """API_TOKEN, API_TOKENS and API_TOKENS_FILE, read together into one `Tokens`."""

    INLINE, FILE = "API_TOKENS", "API_TOKENS_FILE"

    def from_env(
        self, name: str, environ: Mapping[str, str], default: Tokens
    ) -> tuple[Tokens, list[str]]:
        entries: list[tuple[str, bytes, Grant]] = []
        errors: list[str] = []
        single = environ.get(name, "").strip()
        if single:
            if TOKEN_RE.fullmatch(single):
                entries.append((name, digest(single), Grant("default", None)))
            else:
                errors.append(
                    f"{name}='**********': must be at least {MIN_LENGTH} characters of letters, "
                    "digits and ._~+/=-"
                )
        for var, parse in ((self.INLINE, parse_inline), (self.FILE, parse_file)):
            raw = environ.get(var, "").strip()
            try:
                entries += [(var, key, grant) for key, grant in (parse(raw) if raw else [])]
            except ValueError as exc:
                shown = repr(raw) if var == self.FILE else "'**********'"
                errors.append(f"{var}={shown}: {exc}")
        by_digest: dict[bytes, Grant] = {}
        names: set[str] = set()
        for var, key, grant in entries:
            if key in by_digest:
                errors.append(f"{var}: the token of {grant.name!r} is given twice")
            elif grant.name in names:
                errors.append(f"{var}: the name {grant.name!r} is given twice")
            by_digest[key] = grant
            names.add(grant.name)
        return (Tokens(by_digest), errors) if not errors else (default, errors)

    def rows(self, name: str, default: Tokens, help: str) -> list[Row]:
        return [
            Row(name, "", help),
            Row(
                self.INLINE,
                "",
                "More tokens, inline: `name=token:project,project; name=token:*`. Each token "
                "reads only its projects (403 for others), and the users' upstream budget is "
                "shared fairly between the names.",
            ),
            Row(
                self.FILE,
                "",
                "Path of a TOML file of `[[token]]` tables: `name`, `token` or `token_sha256` "
                '(hex), `projects` (a list, or `"*"`). Read with API_TOKEN and API_TOKENS.',
            ),
        ]
