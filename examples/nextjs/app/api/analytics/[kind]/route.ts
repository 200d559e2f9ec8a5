/**
 * GET /api/analytics/overview|compare, proxied to vf-analytics-cache with its token, which
 * stays here on the server: ANALYTICS_TOKEN has no NEXT_PUBLIC_ prefix, so Next never puts
 * it in code sent to a browser. The question (query string) and If-None-Match go through;
 * the answer comes back with the service's cache headers, so the browser caches and
 * revalidates it as the service says (a 304 stays a 304).
 *
 * If this app decides who may see which project (its own sign-in), the service's answer is
 * no longer the same for everyone: replace a `public` Cache-Control with `private` here.
 */
import type { NextRequest } from "next/server";

const SERVICE = process.env.ANALYTICS_URL ?? "http://127.0.0.1:8080";
const TOKEN = process.env.ANALYTICS_TOKEN;
const KINDS = new Set(["overview", "compare"]);
// Not Content-Encoding or Content-Length: fetch has decoded the body already.
const PASSED = ["content-type", "cache-control", "etag", "age", "vary", "x-cache", "retry-after"];

function problem(status: number, title: string, detail: string, headers: Record<string, string> = {}) {
  const body = { type: "about:blank", title, status, detail };
  return Response.json(body, { status, headers: { ...headers, "Content-Type": "application/problem+json" } });
}

export async function GET(request: NextRequest, context: { params: Promise<{ kind: string }> }) {
  const { kind } = await context.params;
  if (!KINDS.has(kind)) return problem(404, "Not Found", `no route /api/analytics/${kind}`);
  const headers = new Headers({ Accept: "application/json" });
  if (TOKEN) headers.set("Authorization", `Bearer ${TOKEN}`);
  const held = request.headers.get("If-None-Match");
  if (held) headers.set("If-None-Match", held);
  let answer: Response;
  try {
    answer = await fetch(`${SERVICE}/api/analytics/${kind}${request.nextUrl.search}`, {
      headers,
      cache: "no-store", // the browser and the service cache; Next's data cache would be a third
    });
  } catch {
    // The client's retry helpers wait Retry-After, then ask again.
    return problem(502, "Bad Gateway", "the analytics service did not answer", { "Retry-After": "5" });
  }
  const out = new Headers();
  for (const name of PASSED) {
    const value = answer.headers.get(name);
    if (value !== null) out.set(name, value);
  }
  return new Response(answer.status === 304 ? null : answer.body, { status: answer.status, headers: out });
}
