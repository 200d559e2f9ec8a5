import type { components } from "./schema.ts";
import { retryAfter } from "./freshness.ts";

export type Problem = components["schemas"]["Problem"];

/** Statuses worth asking again for: the service says when (503, 504), or it may be restarting
 * (500). A 502 is a configuration problem (Voiceflow rejects the key) that waiting will not fix. */
const TRANSIENT = new Set([500, 503, 504]);

/**
 * An answer that is a problem+json (or not JSON at all): thrown by the client's helpers, so
 * that React Query sees it as the query's error. `retryAfterMs` is from `Retry-After` (or the
 * body's `retry_after`); 503 "still fetching" carries it, and so do upstream failures.
 */
export class ProblemError extends Error {
  readonly status: number;
  readonly problem: Problem | null;
  readonly retryAfterMs: number | null;

  constructor(response: Response, body: unknown) {
    const problem = isProblem(body) ? body : null;
    super(problem ? `${problem.status} ${problem.title}: ${problem.detail}` : `HTTP ${response.status}`);
    this.name = "ProblemError";
    this.status = response.status;
    this.problem = problem;
    const fromBody = problem?.retry_after ? problem.retry_after * 1000 : null;
    this.retryAfterMs = retryAfter(response.headers.get("Retry-After")) ?? fromBody;
  }

  /** The request field the service names as wrong (a 400), if any. */
  get field(): string | undefined {
    return this.problem?.field;
  }

  /** Whether asking again may give another answer: a 5xx, or any problem with Retry-After. */
  get transient(): boolean {
    return this.retryAfterMs !== null || TRANSIENT.has(this.status);
  }
}

function isProblem(body: unknown): body is Problem {
  if (typeof body !== "object" || body === null) return false;
  const { type, title, status, detail } = body as Record<string, unknown>;
  return (
    typeof type === "string" &&
    typeof title === "string" &&
    typeof status === "number" &&
    typeof detail === "string"
  );
}

/** Retries of a transient problem (or a failed connection) before the query fails. */
export const MAX_RETRIES = 5;
const BACKOFF_MS = 1000;
const BACKOFF_MAX_MS = 30_000;

/**
 * React Query's `retry`: a problem the service calls transient (or a network error) is asked
 * again, up to MAX_RETRIES times; a 4xx never is (asking again gets the same answer).
 */
export function shouldRetry(failureCount: number, error: unknown): boolean {
  if (failureCount >= MAX_RETRIES) return false;
  return error instanceof ProblemError ? error.transient : true;
}

/** React Query's `retryDelay`: what `Retry-After` said, else exponential backoff. */
export function retryDelay(failureCount: number, error: unknown): number {
  if (error instanceof ProblemError && error.retryAfterMs !== null) return error.retryAfterMs;
  return Math.min(BACKOFF_MS * 2 ** failureCount, BACKOFF_MAX_MS);
}
