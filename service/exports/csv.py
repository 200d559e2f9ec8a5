"""The overview as a tidy CSV: one row per date, metric and dimension (pure).

Two grains share the four columns `date, metric, dimension, value`:

- daily rows: `date` is a local date in the query's zone, `dimension` is `total`, and
  `metric` is one of the overview's total fields. Summing a metric's `total` rows gives
  exactly the overview's total for it.
- range rows: the breakdowns exist only for the whole range, so `date` is the range as an
  ISO 8601 interval (`2025-01-01/2025-01-31`) and `dimension` is `kind=name`
  (`model=gpt-4o`,
  `function=verify_email (<id>)`, …). They split a metric, so they are never
  added to the `total` rows; `top_intents` has no total (Voiceflow sends the top ones only).

Every dimension starts with its kind, so no cell can start with `=`, `+`, `-` or `@` and a
spreadsheet never reads a customer's intent name as a formula.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pandas as pd

from service.analytics.assemble import TOTAL_FIELDS

COLUMNS = ["date", "metric", "dimension", "value"]
TOTAL = "total"

# breakdown -> (kind in the dimension, metric of `count`, metric of `success_count` or None)
BREAKDOWNS: dict[str, tuple[str, str, str | None]] = {
    "interactions_by_type": ("type", "interactions", None),
    "credits_by_model": ("model", "credits", None),
    "top_intents": ("intent", "top_intents", None),
    "functions": ("function", "function_calls", "function_successes"),
    "api_tools": ("api_tool", "api_calls", "api_successes"),
    "integrations": ("integration", "integration_calls", "integration_successes"),
    "kb_documents": ("kb_document", "kb_document_uses", None),
}


def overview_csv(overview: Mapping[str, Any]) -> bytes:
    """UTF-8 CSV with a header; CRLF line ends as RFC 4180 asks."""
    daily = pd.DataFrame(overview["daily"], columns=["date", *TOTAL_FIELDS])
    # Row-major: one date's figures stay together, in the overview's field order.
    tidy = pd.DataFrame(
        {
            "date": daily["date"].repeat(len(TOTAL_FIELDS)).to_numpy(),
            "metric": list(TOTAL_FIELDS) * len(daily),
            "dimension": TOTAL,
            "value": daily[list(TOTAL_FIELDS)].to_numpy().ravel(),
        }
    )
    span = f"{overview['range']['start']}/{overview['range']['end']}"
    ranged = pd.DataFrame(list(_range_rows(overview["breakdowns"], span)), columns=COLUMNS)
    frame = pd.concat([tidy, ranged], ignore_index=True)
    frame["value"] = frame["value"].astype("int64")
    text: str = frame.to_csv(index=False, lineterminator="\r\n")
    return text.encode("utf-8")


def _range_rows(breakdowns: Mapping[str, Any], span: str) -> Iterator[tuple[str, str, str, int]]:
    for name, (kind, count_metric, success_metric) in BREAKDOWNS.items():
        for entry in breakdowns.get(name, ()):
            label = f"{kind}={_label(entry)}"
            yield span, count_metric, label, entry["count"]
            if success_metric is not None:
                yield span, success_metric, label, entry["success_count"]


def _label(entry: Mapping[str, Any]) -> str:
    """The name a person knows; the id too where two entries could share a name."""
    for field in ("type", "model", "name"):
        if field in entry:
            name = str(entry[field])
            return f"{name} ({entry['id']})" if "id" in entry else name
    return str(entry["id"])
