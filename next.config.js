/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // PGlite ships WebAssembly and data files that must be loaded from node_modules, not bundled.
  serverExternalPackages: ['@electric-sql/pglite', 'pg'],
  poweredByHeader: false,
  // Migrations are applied by the server at start-up, so their SQL ships with it.
  outputFileTracingIncludes: { '/**': ['./supabase/migrations/*.sql', './local/db/*.sql'] },
};

export default nextConfig;
