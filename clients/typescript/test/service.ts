/**
 * The service the tests talk to: `VFAC_URL` when set (the pytest wrapper starts one, in demo
 * mode), else one started here from the repository's virtualenv on a free port.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const PACKAGE = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const REPOSITORY = resolve(PACKAGE, "../..");

export interface Service {
  url: string;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const server = createServer();
    server.once("error", fail);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => done(port));
    });
  });
}

async function ready(url: string, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the service exited: ${log()}`);
    try {
      if ((await fetch(`${url}/health`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((wake) => setTimeout(wake, 100));
  }
  throw new Error(`the service did not answer in 30 s: ${log()}`);
}

export async function startService(): Promise<Service> {
  const given = process.env.VFAC_URL;
  if (given) return { url: given.replace(/\/$/, ""), stop: async () => {} };
  const port = await freePort();
  const python = process.env.VFAC_PYTHON ?? resolve(REPOSITORY, ".venv/bin/python");
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1" };
  for (const name of ["REDIS_URL", "VOICEFLOW_API_KEY", "API_TOKEN", "API_TOKENS", "API_TOKENS_FILE"]) {
    delete env[name]; // demo mode, open: the committed document's deployment
  }
  env.UPSTREAM_RATE_PER_SECOND = "50"; // a cold month well within one request's wait
  const child = spawn(python, ["-m", "service"], { cwd: REPOSITORY, env, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk));
  const url = `http://127.0.0.1:${port}`;
  try {
    await ready(url, child, () => output.slice(-2000));
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    url,
    stop: () =>
      new Promise((done) => {
        if (child.exitCode !== null) return done();
        child.once("exit", () => done());
        child.kill("SIGTERM");
      }),
  };
}
