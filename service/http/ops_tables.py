"""The ops page's tables of answers: the most popular ones, and the warmer's plan."""

from __future__ import annotations

from collections.abc import Sequence

from service.analytics.answers import Answer
from service.analytics.query import Query
from service.http.ops_format import DASH, esc, num, relative, span
from warmer.jobs import Candidate, Decision

PLAN_SHOWN = 100  # rows of the plan; the rest are counted


def _query_cells(q: Query) -> str:
    return (
        f'<td><code>{esc(q.project_id)}</code></td><td class="nowrap">{esc(q.start)} → '
        f"{esc(q.end)} <small>({q.days} d)</small></td><td>{esc(q.tz)}</td>"
    )


def _freshness(answer: Answer | None, now: float) -> str:
    if answer is None:
        return '<span class="badge missing">not cached</span>'
    if answer.fresh_until > now:
        return f'<span class="badge fresh">fresh</span> stale {relative(answer.fresh_until, now)}'
    return f'<span class="badge stale">stale</span> since {relative(answer.fresh_until, now)}'


def top_section(top: Sequence[tuple[Candidate, Answer | None]], now: float) -> str:
    if not top:
        return (
            '<section><h2>Top answers</h2><p class="empty">Nobody has asked for an answer '
            "lately.</p></section>"
        )
    best = max(c.score or 0.0 for c, _ in top) or 1.0
    rows = "".join(
        f'<tr><td class="num">{n}</td><td>{esc(c.kind)}</td>{_query_cells(c.query)}'
        f'<td class="num">{num(c.score, 2)}<span class="bar"><i style="width:'
        f'{100 * (c.score or 0) / best:.0f}%"></i></span></td><td>{_freshness(a, now)}</td></tr>'
        for n, (c, a) in enumerate(top, 1)
    )
    return (
        '<section><h2>Top answers</h2><p class="note">By popularity: each request adds 1, '
        'halving every half-life.</p><table><thead><tr><th class="num">#</th><th>Kind</th>'
        '<th>Project</th><th>Range</th><th>Zone</th><th class="num">Popularity</th>'
        f"<th>Freshness</th></tr></thead><tbody>{rows}</tbody></table></section>"
    )


def plan_section(plan: Sequence[Decision], note: str) -> str:
    """`note` is HTML, its values escaped."""
    rows = []
    for d in plan[:PLAN_SHOWN]:
        c = d.candidate
        what = esc(c.kind) if c.score is not None else f"preset <b>{esc(c.label.split()[0])}</b>"
        stale = (
            "not cached"
            if d.stale_in is None
            else f"in {span(d.stale_in)}"
            if d.stale_in > 0
            else f"{span(d.stale_in)} ago"
        )
        rows.append(
            f'<tr><td><span class="badge {esc(d.action)}">{esc(d.action)}</span></td>'
            f"<td>{what}</td>{_query_cells(c.query)}"
            f'<td class="num">{"preset" if c.score is None else num(c.score, 2)}</td>'
            f"<td>{esc(stale)}</td>"
            f'<td class="num">{DASH if d.estimate is None else "≥ " + num(d.estimate)}</td></tr>'
        )
    more = len(plan) - PLAN_SHOWN
    tail = f'<p class="note">and {more} more</p>' if more > 0 else ""
    table = (
        "<table><thead><tr><th>Action</th><th>Answer</th><th>Project</th><th>Range</th>"
        '<th>Zone</th><th class="num">Popularity</th><th>Goes stale</th>'
        f'<th class="num">Upstream requests</th></tr></thead><tbody>{"".join(rows)}</tbody>'
        f"</table>{tail}"
        if rows
        else '<p class="empty">Nothing to consider: no presets configured, nothing popular.</p>'
    )
    return f'<section><h2>Next warmer run (plan)</h2><p class="note">{note}</p>{table}</section>'
