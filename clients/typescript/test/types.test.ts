/** The compiler holds callers to the document: `tsc --noEmit` fails if any misuse below
 * compiles (a path, a parameter or a field the service lacks), as each expects an error. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { type AnalyticsClient, type Overview, createAnalyticsClient, getOverview } from "../src/index.ts";

export function misuses(api: AnalyticsClient, overview: Overview): void {
  // @ts-expect-error: start and end are required
  void getOverview(api, { project_id: "p" });
  // @ts-expect-error: no such parameter
  void getOverview(api, { project_id: "p", start: "2025-01-01", end: "2025-01-02", colour: "red" });
  // @ts-expect-error: no such path
  void api.GET("/api/analytics/overviews", {});
  // @ts-expect-error: totals have no such field
  void overview.totals.revenue;
  // @ts-expect-error: meta.source is "voiceflow" | "demo"
  const source: "simulator" = overview.meta.source;
  void source;
}

test("the client is built without a service to talk to", () => {
  assert.equal(typeof createAnalyticsClient().GET, "function");
});
