/** @type {import("next").NextConfig} */
const config = {
  // The client is TypeScript source, linked from clients/typescript: Next compiles it.
  transpilePackages: ["@vf-analytics-cache/client"],
  eslint: { ignoreDuringBuilds: true }, // the example carries no ESLint setup of its own
};

export default config;
