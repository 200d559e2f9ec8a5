"""The ops page's stylesheet, inline: the page loads nothing else."""

from __future__ import annotations

STYLE = """
:root { color-scheme: light; --ink: #1d232b; --muted: #5b6470; --line: #dde1e6;
  --bg: #f5f6f8; --good: #1b8a5a; --bad: #b3261e; --warn: #a05a00; }
* { box-sizing: border-box; }
body { margin: 0; padding: 20px 24px 32px; background: var(--bg); color: var(--ink);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Liberation Sans", sans-serif; }
header h1 { margin: 0; font-size: 22px; }
header h1 span { color: var(--muted); font-weight: 400; }
header p { margin: 2px 0 16px; color: var(--muted); }
section { background: #fff; border: 1px solid var(--line); border-radius: 8px;
  padding: 14px 18px; margin: 0 0 16px; overflow-x: auto; }
h2 { font-size: 17px; margin: 0 0 6px; }
.note, .empty, footer { color: var(--muted); margin: 0 0 10px; }
.empty { font-style: italic; }
footer { font-size: 12px; }
code { font: 12.5px ui-monospace, "DejaVu Sans Mono", "Liberation Mono", monospace; }
small { color: var(--muted); }
.muted { color: var(--muted); }
.warn { color: var(--warn); }
.bad { color: var(--bad); }
section.cards { display: grid; grid-template-columns: repeat(4, 1fr); gap: 12px;
  background: none; border: 0; padding: 0; }
.card { background: #fff; border: 1px solid var(--line); border-left: 4px solid var(--line);
  border-radius: 8px; padding: 10px 14px; }
.card.good { border-left-color: var(--good); }
.card.bad { border-left-color: var(--bad); }
.card h3 { margin: 0; font-size: 12px; font-weight: 600; color: var(--muted);
  text-transform: uppercase; letter-spacing: .04em; }
.card .big { margin: 2px 0; font-size: 24px; font-weight: 600;
  font-variant-numeric: tabular-nums; overflow-wrap: anywhere; }
.card .big small { font-size: 14px; font-weight: 400; }
.card p { margin: 0; color: var(--muted); font-size: 12.5px; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: 6px 10px;
  border-bottom: 1px solid var(--line); }
th { font-size: 12px; color: var(--muted); font-weight: 600; white-space: nowrap; }
tbody tr:nth-child(even) { background: #fafbfc; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.nowrap { white-space: nowrap; }
table.jobs td:nth-child(-n+4) { white-space: nowrap; }
.bar { display: inline-block; width: 60px; height: 8px; margin-left: 8px;
  background: #eef0f3; border-radius: 4px; vertical-align: middle; }
.bar i { display: block; height: 100%; background: #2f6fdf; border-radius: 4px; }
.badge { display: inline-block; min-width: 64px; text-align: center; padding: 1px 8px;
  border-radius: 10px; font-size: 12px; font-weight: 600; }
.badge.fresh { background: #e3f4ea; color: var(--good); }
.badge.stale { background: #fdf0dc; color: var(--warn); }
.badge.missing { background: #eef0f3; color: var(--muted); }
.badge.refresh { background: #e4edfc; color: #2456b3; }
.badge.running { background: #efe9fb; color: #5a3fb0; }
dl { display: grid; grid-template-columns: repeat(5, auto); gap: 2px 24px; margin: 6px 0 10px;
  justify-content: start; }
dt { grid-row: 1; font-size: 12px; color: var(--muted); font-weight: 600; }
dd { grid-row: 2; margin: 0; font-variant-numeric: tabular-nums; }
.charts { display: grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap: 12px 24px; }
figure { margin: 0; }
figcaption { margin-bottom: 2px; color: var(--muted); }
figcaption b { color: var(--ink); margin-right: 6px; }
.chart { display: block; width: 100%; height: auto; max-width: 560px; }
.key { margin-right: 12px; white-space: nowrap; }
.key i { display: inline-block; width: 10px; height: 10px; border-radius: 2px;
  margin-right: 4px; vertical-align: -1px; }
"""
