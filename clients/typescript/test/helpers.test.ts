/** The freshness and retry helpers, on their own. */
import assert from "node:assert/strict";
import { test } from "node:test";

import { ProblemError, retryAfter, retryDelay, shouldRetry, staleTime } from "../src/index.ts";

const META = { generated_at: "2025-01-01T12:00:00Z", fresh_until: "2025-01-01T12:05:00Z", stale: false };
const NOON = Date.parse(META.generated_at);

test("staleTime is the lifetime less Age, whatever this machine's clock says", () => {
  assert.equal(staleTime(META, "0", NOON), 300_000);
  assert.equal(staleTime(META, "120", NOON), 180_000);
  assert.equal(staleTime(META, "120", NOON + 86_400_000), 180_000); // a clock a day off
  assert.equal(staleTime(META, "400", NOON), 0); // past max-age: stale already
  assert.equal(staleTime({ ...META, stale: true }, "0", NOON), 0);
});

test("without Age, staleTime is the time left until fresh_until", () => {
  assert.equal(staleTime(META, null, NOON + 60_000), 240_000);
  assert.equal(staleTime(META, "soon", NOON + 60_000), 240_000);
});

test("Retry-After is read as seconds or as a date", () => {
  assert.equal(retryAfter("7"), 7_000);
  assert.equal(retryAfter("Wed, 01 Jan 2025 12:00:30 GMT", NOON), 30_000);
  assert.equal(retryAfter(null), null);
  assert.equal(retryAfter("later"), null);
});

function problem(status: number, headers: Record<string, string> = {}, body: object = {}): ProblemError {
  const full = { type: "https://x/p", title: "T", status, detail: "d", ...body };
  return new ProblemError(new Response(null, { status, headers }), full);
}

test("a transient problem is retried after its Retry-After; a 4xx is not retried", () => {
  const fetching = problem(503, { "Retry-After": "4" }, { retry_after: 4 });
  assert.equal(shouldRetry(0, fetching), true);
  assert.equal(retryDelay(0, fetching), 4_000);
  assert.equal(shouldRetry(5, fetching), false); // MAX_RETRIES
  const timeout = problem(504, {}, { retry_after: 10 });
  assert.equal(retryDelay(1, timeout), 10_000); // the body's, when the header was lost
  assert.equal(shouldRetry(0, problem(400)), false);
  assert.equal(shouldRetry(0, problem(403)), false);
  assert.equal(shouldRetry(0, problem(502)), false); // the key is wrong: waiting will not help
  assert.equal(shouldRetry(0, new TypeError("fetch failed")), true);
  assert.equal(retryDelay(0, new TypeError("fetch failed")), 1_000);
  assert.equal(retryDelay(10, new TypeError("fetch failed")), 30_000);
});
