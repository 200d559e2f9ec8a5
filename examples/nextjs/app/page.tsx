import { queryFrom } from "@/lib/query";

import { OverviewPanel } from "./overview";

export default async function Page({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const query = queryFrom(await searchParams);
  return (
    <main>
      <header>
        <h1>Voiceflow analytics</h1>
        <form method="get" className="ask">
          <label>
            Project <input name="project_id" defaultValue={query.project_id} size={26} />
          </label>
          <label>
            From <input name="start" type="date" defaultValue={query.start} />
          </label>
          <label>
            To <input name="end" type="date" defaultValue={query.end} />
          </label>
          <label>
            Time zone <input name="tz" defaultValue={query.tz ?? "UTC"} size={16} />
          </label>
          <button type="submit">Show</button>
        </form>
      </header>
      <OverviewPanel query={query} />
    </main>
  );
}
