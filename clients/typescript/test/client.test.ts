/** The client against the running service (demo mode): the document and types it is built
 * from are the service's, and answers, a 304 and a problem come back through it typed. */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";

import {
  type AnalyticsClient,
  type AnalyticsQuery,
  createAnalyticsClient,
  getCompare,
  getOverview,
  ProblemError,
  shouldRetry,
} from "../src/index.ts";
import { PACKAGE, REPOSITORY, type Service, startService } from "./service.ts";

const QUERY: AnalyticsQuery = {
  project_id: "62912f08e83f76001b218690",
  start: "2025-01-01",
  end: "2025-01-31",
  tz: "Europe/Helsinki",
};
const FRESH_MS = 300_000; // CACHE_TTL_SECONDS' default
const COMMITTED = resolve(REPOSITORY, "openapi.json");

let service: Service;
let api: AnalyticsClient;

before(async () => {
  service = await startService();
  api = createAnalyticsClient({ baseUrl: service.url });
});
after(async () => service.stop());

/** What `npm run generate` makes of `document`, written into `into`. */
function generate(document: string, into: string): string {
  const manifest = JSON.parse(readFileSync(resolve(PACKAGE, "package.json"), "utf8"));
  const [, committed, ...flags] = (manifest.scripts.generate as string).split(" ");
  assert.equal(committed, "../../openapi.json");
  const out = join(into, "schema.ts");
  flags[flags.indexOf("--output") + 1] = out;
  const cli = resolve(PACKAGE, "node_modules/openapi-typescript/bin/cli.js");
  execFileSync(process.execPath, [cli, document, ...flags], { stdio: "pipe" });
  return readFileSync(out, "utf8");
}

test("the running service serves the committed openapi.json", async () => {
  const served = await (await fetch(`${service.url}/api/openapi.json`)).json();
  assert.deepEqual(served, JSON.parse(readFileSync(COMMITTED, "utf8")));
});

test("the committed types are what openapi-typescript makes of openapi.json", () => {
  const dir = mkdtempSync(join(tmpdir(), "vfac-types-"));
  try {
    const committed = readFileSync(resolve(PACKAGE, "src/schema.ts"), "utf8");
    assert.equal(generate(COMMITTED, dir), committed, "src/schema.ts is stale: run `npm run generate`");
    // And the comparison can fail: a document with one more field makes other types.
    const changed = JSON.parse(readFileSync(COMMITTED, "utf8"));
    changed.components.schemas.Overview.properties.extra = { type: "string" };
    writeFileSync(join(dir, "changed.json"), JSON.stringify(changed));
    assert.notEqual(generate(join(dir, "changed.json"), dir), committed);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an overview comes back typed, with its freshness", async () => {
  const answer = await getOverview(api, QUERY);
  assert.equal(answer.data.meta.source, "demo");
  assert.equal(answer.data.range.days, 31);
  assert.equal(answer.data.daily.length, 31);
  assert.ok(answer.data.totals.interactions > 0);
  assert.match(answer.etag ?? "", /^W\/"[0-9a-f]+"$/);
  assert.ok(answer.cache === "MISS" || answer.cache === "HIT");
  assert.ok(answer.staleTime > FRESH_MS - 5_000 && answer.staleTime <= FRESH_MS, `${answer.staleTime}`);
  assert.equal(answer.notModified, false);
});

test("a compare comes back typed, through openapi-fetch's own GET too", async () => {
  const answer = await getCompare(api, QUERY);
  assert.equal(answer.data.previous_range.end, "2024-12-31");
  const { data, error, response } = await api.GET("/api/analytics/compare", { params: { query: QUERY } });
  assert.equal(error, undefined);
  assert.equal(response.headers.get("X-Cache"), "HIT");
  assert.equal(response.headers.get("ETag"), answer.etag);
  assert.equal(data?.metrics.interactions.current, answer.data.metrics.interactions.current);
  const shared = /^public, max-age=300, stale-while-revalidate=\d+, stale-if-error=\d+$/;
  assert.match(response.headers.get("Cache-Control") ?? "", shared);
});

test("the POST gives the GET's answer (one cache entry)", async () => {
  const got = await getOverview(api, QUERY);
  const { data, response } = await api.POST("/api/analytics/overview", { body: QUERY });
  assert.equal(response.headers.get("ETag"), got.etag);
  assert.equal(response.headers.get("X-Cache"), "HIT");
  assert.deepEqual(data?.totals, got.data.totals);
});

test("a 304 comes back through the client as the answer held, still fresh", async () => {
  const first = await getOverview(api, QUERY);
  const again = await getOverview(api, QUERY, { previous: first });
  assert.equal(again.notModified, true);
  assert.equal(again.data, first.data);
  assert.equal(again.etag, first.etag);
  assert.ok(again.staleTime > 0 && again.staleTime <= FRESH_MS);
});

test("a problem comes back as a ProblemError naming the field", async () => {
  await assert.rejects(getOverview(api, { ...QUERY, tz: "Asia/Kolkata" }), (error: unknown) => {
    assert.ok(error instanceof ProblemError);
    assert.equal(error.status, 400);
    assert.equal(error.field, "tz");
    assert.match(error.problem?.detail ?? "", /whole hours/);
    assert.equal(shouldRetry(0, error), false); // the same question gets the same 400
    return true;
  });
});

test("a conditional GET through node's fetch gets its 304, without a body", async () => {
  const url = `${service.url}/api/analytics/overview?${new URLSearchParams({ ...QUERY })}`;
  const first = await fetch(url);
  assert.equal(first.status, 200);
  const etag = first.headers.get("ETag");
  assert.ok(etag);
  const again = await fetch(url, { headers: { "If-None-Match": etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), "");
  assert.equal(again.headers.get("ETag"), etag);
  assert.equal(again.headers.get("Vary"), "Accept-Encoding");
});
