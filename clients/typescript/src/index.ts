/**
 * A typed client of vf-analytics-cache. The types are generated from the repository's
 * openapi.json (`npm run generate`); the client is openapi-fetch's, so every path, parameter
 * and answer is checked by the compiler. On top, for a dashboard's React Query:
 *
 *     const api = createAnalyticsClient({ baseUrl: "/" });
 *     useQuery(overviewQuery(api, { project_id, start, end, tz }));
 *
 * `overviewQuery` fetches `GET /api/analytics/overview` (cacheable by the browser and any CDN)
 * and sets `staleTime` from the answer's own freshness and `retryDelay` from `Retry-After`.
 */
import createClient, { type Client, type ClientOptions } from "openapi-fetch";
import { staleTime } from "./freshness.ts";
import { ProblemError, retryDelay, shouldRetry } from "./problem.ts";
import type { components, paths } from "./schema.ts";

export type { components, operations, paths } from "./schema.ts";
export { retryAfter, staleTime, type Meta } from "./freshness.ts";
export { MAX_RETRIES, ProblemError, retryDelay, shouldRetry, type Problem } from "./problem.ts";

export type Overview = components["schemas"]["Overview"];
export type Compare = components["schemas"]["Compare"];
/** The question: project_id, start, end (inclusive local dates), tz, environment_id. */
export type AnalyticsQuery = NonNullable<paths["/api/analytics/overview"]["get"]["parameters"]["query"]>;
export type AnalyticsClient = Client<paths>;
export type CacheStatus = "HIT" | "MISS" | "STALE";

export interface AnalyticsClientOptions extends ClientOptions {
  /**
   * Sent as `Authorization: Bearer <token>`. Only where the token cannot leak: a server (a
   * Next.js route handler reading it from the environment), never code sent to a browser.
   */
  token?: string;
}

/** openapi-fetch's client, typed by the service's OpenAPI document. */
export function createAnalyticsClient(options: AnalyticsClientOptions = {}): AnalyticsClient {
  const { token, ...rest } = options;
  const client = createClient<paths>(rest);
  if (token) {
    client.use({
      onRequest({ request }) {
        request.headers.set("Authorization", `Bearer ${token}`);
        return request;
      },
    });
  }
  return client;
}

/** An answer with what its headers said about it. */
export interface Fresh<T> {
  data: T;
  /** Milliseconds it stays fresh from when it arrived: React Query's staleTime. */
  staleTime: number;
  etag: string | null;
  cache: CacheStatus | null;
  /** True when it is `previous`'s data, confirmed by a 304. */
  notModified: boolean;
}

export interface AskOptions<T> {
  signal?: AbortSignal;
  /** The answer held already: sent as If-None-Match, and kept (with new freshness) on a 304. */
  previous?: Fresh<T>;
}

type AnswerPath = "/api/analytics/overview" | "/api/analytics/compare";

async function ask<T extends Overview | Compare>(
  client: AnalyticsClient,
  path: AnswerPath,
  query: AnalyticsQuery,
  options: AskOptions<T>,
): Promise<Fresh<T>> {
  const { previous, signal } = options;
  const headers = previous?.etag ? { "If-None-Match": previous.etag } : undefined;
  const { data, error, response } = await client.GET(path, {
    params: { query },
    headers,
    ...(signal ? { signal } : {}),
  });
  const etag = response.headers.get("ETag");
  const cache = response.headers.get("X-Cache") as CacheStatus | null;
  const age = response.headers.get("Age");
  if (response.status === 304 && previous) {
    const fresh = staleTime({ ...previous.data.meta, stale: false }, age);
    return { ...previous, staleTime: fresh, etag: etag ?? previous.etag, cache, notModified: true };
  }
  if (data === undefined) throw new ProblemError(response, error);
  const answer = data as T;
  return { data: answer, staleTime: staleTime(answer.meta, age), etag, cache, notModified: false };
}

/** `GET /api/analytics/overview`; a problem is thrown as a ProblemError. */
export function getOverview(
  client: AnalyticsClient,
  query: AnalyticsQuery,
  options: AskOptions<Overview> = {},
): Promise<Fresh<Overview>> {
  return ask(client, "/api/analytics/overview", query, options);
}

/** `GET /api/analytics/compare`; a problem is thrown as a ProblemError. */
export function getCompare(
  client: AnalyticsClient,
  query: AnalyticsQuery,
  options: AskOptions<Compare> = {},
): Promise<Fresh<Compare>> {
  return ask(client, "/api/analytics/compare", query, options);
}

/** What React Query passes to a function-valued `staleTime` (structurally, so that this
 * package needs no React Query of its own). */
interface HeldQuery<T> {
  state: { data?: Fresh<T> | undefined };
}

/** Options for React Query's `useQuery` (v5): key, fetch, staleTime, retry and retryDelay. */
function queryOptions<T>(
  kind: string,
  query: AnalyticsQuery,
  fetch: (signal: AbortSignal) => Promise<Fresh<T>>,
) {
  return {
    queryKey: ["vf-analytics", kind, query] as const,
    queryFn: ({ signal }: { signal: AbortSignal }) => fetch(signal),
    staleTime: (held: HeldQuery<T>) => held.state.data?.staleTime ?? 0,
    // Typed on Error, so that React Query types the query's error as Error (a ProblemError
    // when the service answered one).
    retry: (failureCount: number, error: Error) => shouldRetry(failureCount, error),
    retryDelay: (failureCount: number, error: Error) => retryDelay(failureCount, error),
  };
}

export function overviewQuery(client: AnalyticsClient, query: AnalyticsQuery) {
  return queryOptions("overview", query, (signal) => getOverview(client, query, { signal }));
}

export function compareQuery(client: AnalyticsClient, query: AnalyticsQuery) {
  return queryOptions("compare", query, (signal) => getCompare(client, query, { signal }));
}
