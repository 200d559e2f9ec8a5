/**
 * How long an answer stays fresh, and when to ask again after a problem: the numbers React
 * Query's `staleTime`, `retry` and `retryDelay` want, from what the service sends.
 *
 * Freshness is measured on the service's clock only, so a browser whose clock is off still
 * gets it right: the answer's fresh lifetime is `meta.fresh_until - meta.generated_at` (both
 * the service's), and the `Age` header says how much of it had gone when the answer left the
 * service or a cache in between (a CDN adds its own time to `Age`). What is left is the
 * staleTime, counted by React Query from when the data arrived.
 */

/** The `meta` every overview and compare answer carries. */
export interface Meta {
  generated_at: string;
  fresh_until: string;
  stale: boolean;
}

/**
 * Milliseconds the answer stays fresh from now: its lifetime less its `Age` (seconds). With no
 * `Age` (a proxy dropped it), the time left until `fresh_until` on this machine's clock. A
 * stale answer (served while it is refreshed) is stale already: 0.
 */
export function staleTime(meta: Meta, age: string | null, now: number = Date.now()): number {
  if (meta.stale) return 0;
  const freshUntil = Date.parse(meta.fresh_until);
  const seconds = age === null ? Number.NaN : Number(age);
  if (!Number.isFinite(seconds) || seconds < 0) return Math.max(0, freshUntil - now);
  const lifetime = freshUntil - Date.parse(meta.generated_at);
  return Math.max(0, lifetime - seconds * 1000);
}

/**
 * Milliseconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date), or null
 * when there is none or it cannot be read.
 */
export function retryAfter(header: string | null, now: number = Date.now()): number | null {
  if (header === null || header.trim() === "") return null;
  const value = header.trim();
  if (/^\d+$/.test(value)) return Number(value) * 1000;
  const when = Date.parse(value);
  return Number.isNaN(when) ? null : Math.max(0, when - now);
}
