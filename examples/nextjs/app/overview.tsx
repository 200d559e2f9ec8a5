"use client";

import { useQuery } from "@tanstack/react-query";
import {
  type AnalyticsQuery,
  createAnalyticsClient,
  type Overview,
  overviewQuery,
  ProblemError,
} from "@vf-analytics-cache/client";

// Same origin: the route handler in app/api/analytics/[kind] adds the token on the server.
const api = createAnalyticsClient({ baseUrl: "" });

const number = new Intl.NumberFormat("en-US");
const KPIS: { key: keyof Overview["totals"]; label: string }[] = [
  { key: "interactions", label: "Interactions" },
  { key: "unique_users", label: "Unique users (hourly)" },
  { key: "credits", label: "Credits" },
  { key: "function_calls", label: "Function calls" },
  { key: "api_calls", label: "API calls" },
  { key: "kb_document_uses", label: "KB document uses" },
];

export function OverviewPanel({ query }: { query: AnalyticsQuery }) {
  const { data, error, isPending, failureCount, failureReason } = useQuery(overviewQuery(api, query));
  if (error) {
    const detail = error instanceof ProblemError ? (error.problem?.detail ?? error.message) : error.message;
    return (
      <p className="problem" data-state="error">
        {detail}
      </p>
    );
  }
  if (isPending) {
    const waiting = failureReason instanceof ProblemError && failureReason.retryAfterMs !== null;
    return (
      <p className="loading" data-state="loading">
        {waiting ? `Still fetching from Voiceflow; asking again (${failureCount})…` : "Loading…"}
      </p>
    );
  }
  const overview = data.data;
  const peak = Math.max(1, ...overview.daily.map((d) => d.interactions));
  const fetched = new Date(overview.meta.generated_at).toLocaleString("en-GB", { timeZone: "UTC" }) + " UTC";
  const { top_intents, credits_by_model } = overview.breakdowns;
  const intents = top_intents.slice(0, 6);
  const models = credits_by_model.slice(0, 4).map((m) => ({ name: m.model, count: m.count }));
  return (
    <section data-state="ready">
      <p className="range">
        {overview.range.start} – {overview.range.end} ({overview.range.days} days, {overview.range.tz})
      </p>
      <div className="kpis">
        {KPIS.map(({ key, label }) => (
          <div className="kpi" key={key}>
            <span>{label}</span>
            <strong>{number.format(overview.totals[key])}</strong>
          </div>
        ))}
      </div>
      <div className="panels">
        <figure className="panel chart">
          <figcaption>
            Interactions per day <small>peak {number.format(peak)}</small>
          </figcaption>
          <svg viewBox={`0 0 ${overview.daily.length * 10} 100`} preserveAspectRatio="none" role="img">
            {overview.daily.map((day, i) => {
              const height = (day.interactions / peak) * 96;
              return (
                <rect key={day.date} x={i * 10 + 1} y={100 - height} width={8} height={height}>
                  <title>{`${day.date}: ${day.interactions}`}</title>
                </rect>
              );
            })}
          </svg>
          <div className="axis">
            <span>{overview.daily[0]?.date}</span>
            <span>{overview.daily.at(-1)?.date}</span>
          </div>
        </figure>
        <div className="stack">
          <Bars title="Top intents" rows={intents} />
          <Bars title="Credits by model" rows={models} />
        </div>
      </div>
      <footer className="meta">
        Source <b>{overview.meta.source}</b> · fetched {fetched} · X-Cache <b>{data.cache ?? "?"}</b> ·
        fresh for another <b>{Math.round(data.staleTime / 1000)} s</b> (React Query staleTime, from
        meta.fresh_until and Age)
      </footer>
    </section>
  );
}

function Bars({ title, rows }: { title: string; rows: { name: string; count: number }[] }) {
  const peak = Math.max(1, ...rows.map((row) => row.count));
  return (
    <figure className="panel">
      <figcaption>{title}</figcaption>
      <ul className="bars">
        {rows.map((row) => (
          <li key={row.name}>
            <span title={row.name}>{row.name}</span>
            <i style={{ width: `${(row.count / peak) * 100}%` }} />
            <b>{number.format(row.count)}</b>
          </li>
        ))}
      </ul>
    </figure>
  );
}
