import type { AnalyticsQuery } from "@vf-analytics-cache/client";

/** The demo project and a month of it: what the page shows when the URL names nothing. */
export const DEFAULT_QUERY = {
  project_id: "62912f08e83f76001b218690",
  start: "2025-01-01",
  end: "2025-01-31",
  tz: "Europe/Helsinki",
} satisfies AnalyticsQuery;

/** The page's question from its URL (`?project_id=…&start=…&end=…&tz=…`). */
export function queryFrom(search: Record<string, string | string[] | undefined>): AnalyticsQuery {
  const one = (name: keyof typeof DEFAULT_QUERY) => {
    const value = search[name];
    return typeof value === "string" && value !== "" ? value : DEFAULT_QUERY[name];
  };
  return { project_id: one("project_id"), start: one("start"), end: one("end"), tz: one("tz") };
}
