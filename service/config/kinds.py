"""What a setting may hold. A kind parses a raw value and spells the rule an error quotes, so
a declaration names its kind and bounds once and the parser, the message and the README's
default column all follow from it."""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar, Generic, TypeVar

from service.config.secret import MASK, Secret
from service.config.table import Row, spell

T = TypeVar("T")


class Kind(ABC, Generic[T]):
    """How one declared environment variable is read and documented."""

    @abstractmethod
    def from_env(self, name: str, environ: Mapping[str, str], default: T) -> tuple[T, list[str]]:
        """The value and the problems found (each naming the variable)."""

    def rows(self, name: str, default: T, help: str) -> list[Row]:
        return [Row(name, spell(default), help)]


class Scalar(Kind[T]):
    """A value spelled as one string in the environment, or one value in a TOML table."""

    secret: ClassVar[bool] = False  # then the raw value is masked in errors too

    @property
    @abstractmethod
    def rule(self) -> str:
        """What is accepted, as an error message ends: "must be ..."."""

    @abstractmethod
    def parse(self, raw: str) -> T:
        """The value of a non-empty string; ValueError when it breaks the rule."""

    def check(self, value: object) -> T:
        """The value of a TOML entry (already typed by TOML); ValueError when it breaks the rule."""
        if isinstance(value, str):
            return self.parse(value)
        raise ValueError(value)

    def from_env(self, name: str, environ: Mapping[str, str], default: T) -> tuple[T, list[str]]:
        raw = environ.get(name, "").strip()
        if not raw:
            return default, []
        try:
            return self.parse(raw), []
        except ValueError:
            return default, [f"{name}={MASK if self.secret else repr(raw)}: {self.rule}"]

    def from_toml(
        self, where: str, table: Mapping[str, object], entry: str, default: T
    ) -> tuple[T, list[str]]:
        if entry not in table:
            return default, []
        value = table[entry]
        try:
            return self.check(value), []
        except ValueError:
            shown = MASK if self.secret else repr(value)
            return default, [f"{where}.{entry} = {shown}: {self.rule}"]


class Int(Scalar[int]):
    def __init__(self, lo: int, hi: int | None = None) -> None:
        self.lo, self.hi = lo, hi

    @property
    def rule(self) -> str:
        if self.hi is None:
            return f"must be an integer >= {self.lo}"
        return f"must be an integer {self.lo}-{self.hi}"

    def parse(self, raw: str) -> int:
        return self.check(int(raw))

    def check(self, value: object) -> int:
        # bool is an int to Python, never a number to a person writing `top_k = true`
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(value)
        if value < self.lo or (self.hi is not None and value > self.hi):
            raise ValueError(value)
        return value


class Port(Int):
    def __init__(self) -> None:
        super().__init__(1, 65535)

    @property
    def rule(self) -> str:
        return f"must be an integer port {self.lo}-{self.hi}"


class Number(Scalar[float]):
    """A finite number within bounds: gt/ge below, lt/le above (each optional)."""

    def __init__(
        self,
        *,
        gt: float | None = None,
        ge: float | None = None,
        lt: float | None = None,
        le: float | None = None,
    ) -> None:
        self.gt, self.ge, self.lt, self.le = gt, ge, lt, le

    @property
    def rule(self) -> str:
        if self.ge is not None and self.le is not None:
            return f"must be a number {spell(self.ge)}-{spell(self.le)}"
        ops = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))
        given = [(op, getattr(self, name)) for name, op in ops]
        bounds = [f"{op} {spell(bound)}" for op, bound in given if bound is not None]
        return "must be a number " + " and ".join(bounds)

    def parse(self, raw: str) -> float:
        return self.check(float(raw))

    def check(self, value: object) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(value)
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        if (
            (self.gt is not None and not number > self.gt)
            or (self.ge is not None and not number >= self.ge)
            or (self.lt is not None and not number < self.lt)
            or (self.le is not None and not number <= self.le)
        ):
            raise ValueError(value)
        return value  # TOML's `60` stays an int, as written (the warmer's status echoes it)


POSITIVE = Number(gt=0)
NON_NEGATIVE = Number(ge=0)
SHARE = Number(gt=0, le=1)  # a share of a rate: none of it makes no sense, all of it does


class Maybe(Scalar[T | None]):
    """An optional environment variable: empty is None (a feature off), else as `kind` reads
    it. (An optional TOML entry needs no such kind: it is left out.)"""

    def __init__(self, kind: Scalar[T]) -> None:
        self.kind = kind

    @property
    def rule(self) -> str:
        return f"{self.kind.rule}, or empty"

    def parse(self, raw: str) -> T:
        return self.kind.parse(raw)


class Bool(Scalar[bool]):
    rule = "must be true or false"
    _TRUE, _FALSE = frozenset({"true", "1", "yes"}), frozenset({"false", "0", "no"})

    def parse(self, raw: str) -> bool:
        value = raw.lower()
        if value not in self._TRUE | self._FALSE:
            raise ValueError(raw)
        return value in self._TRUE


class Host(Scalar[str]):
    rule = "must be a host name or address"

    def parse(self, raw: str) -> str:
        return raw


class HttpUrl(Scalar[str]):
    rule = "must be an http:// or https:// URL"

    def parse(self, raw: str) -> str:
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", raw):
            raise ValueError(raw)
        return raw.rstrip("/")  # so paths can be appended with one "/"


class Origins(Scalar[tuple[str, ...]]):
    rule = "must be comma-separated http(s) origins"

    def parse(self, raw: str) -> tuple[str, ...]:
        origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
        for origin in origins:
            if origin != "*" and not re.fullmatch(r"https?://[^\s/]+", origin):
                raise ValueError(origin)
        return origins


class OneOf(Scalar[str]):
    """One of a few words, in any case; kept as the choices spell it."""

    def __init__(self, *choices: str) -> None:
        self.choices = choices

    @property
    def rule(self) -> str:
        return f"must be one of {', '.join(self.choices)}"

    def parse(self, raw: str) -> str:
        for choice in self.choices:
            if raw.lower() == choice.lower():
                return choice
        raise ValueError(raw)


class RedisUrl(Scalar[Secret | None]):
    """A URL, or a cluster's comma-separated seed nodes (REDIS_MODE says which may be)."""

    secret = True  # the URL may carry the password
    rule = "must be a redis:// or rediss:// URL, or a comma-separated list of them"

    def parse(self, raw: str) -> Secret:
        urls = [url.strip() for url in raw.split(",")]
        if not all(url.startswith(("redis://", "rediss://", "unix://")) for url in urls):
            raise ValueError("scheme")
        return Secret(",".join(urls))


class ApiKey(Scalar[Secret | None]):
    secret = True
    rule = "must be a Voiceflow key starting with VF."

    def parse(self, raw: str) -> Secret:
        if not raw.startswith("VF.") or any(c.isspace() for c in raw):
            raise ValueError("format")
        return Secret(raw)


class Token(Scalar[Secret | None]):
    secret = True
    MIN_LENGTH = 16  # a bearer token short enough to guess protects nothing
    rule = f"must be at least {MIN_LENGTH} characters"

    def parse(self, raw: str) -> Secret:
        if len(raw) < self.MIN_LENGTH:
            raise ValueError("short")
        return Secret(raw)


class ListOf(Scalar[tuple[str, ...]]):
    """A TOML list whose every item is one of `choices`."""

    def __init__(self, choices: tuple[str, ...]) -> None:
        self.choices = choices

    @property
    def rule(self) -> str:
        return f"must be a list of {self.choices}"

    def parse(self, raw: str) -> tuple[str, ...]:
        return self.check([item.strip() for item in raw.split(",")])

    def check(self, value: object) -> tuple[str, ...]:
        if not isinstance(value, list) or not all(item in self.choices for item in value):
            raise ValueError(value)
        return tuple(value)


class Cron(Scalar[str | None]):
    FIELDS = 5  # minute hour day month weekday: no seconds, as crontab(5) has none
    rule = f"must be a crontab line of {FIELDS} fields that fires"

    def parse(self, raw: str) -> str:
        # Deferred: only a config with a cron line needs APScheduler.
        from apscheduler.triggers.cron import CronTrigger

        if len(raw.split()) != self.FIELDS:
            raise ValueError(raw)
        trigger = CronTrigger.from_crontab(raw, timezone="UTC")  # ValueError when malformed
        # A line that never fires (e.g. 31 February) would silently stop the job.
        if trigger.get_next_fire_time(None, datetime.now(UTC)) is None:
            raise ValueError(raw)
        return raw
