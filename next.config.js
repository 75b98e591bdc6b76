/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  // PGlite ships WebAssembly and data files that must be loaded from node_modules, not bundled.
  serverExternalPackages: ['@electric-sql/pglite', 'pg'],
  poweredByHeader: false,
  // Server-action bodies: the limit Next.js enforces while reading, and what it buffers for the
  // proxy (which answers 413 above it); both equal SERVER_ACTION_BODY_LIMIT_BYTES in lib/http/body.ts.
  experimental: { serverActions: { bodySizeLimit: '1mb' }, proxyClientMaxBodySize: '1mb' },
  // Every API answer, including Next.js's own 404/405: never cached, never sniffed.
  async headers() {
    return [
      {
        source: '/api/:path*',
        headers: [
          { key: 'Cache-Control', value: 'no-store' },
          { key: 'X-Content-Type-Options', value: 'nosniff' },
        ],
      },
    ];
  },
  // Migrations are applied by the server at start-up, so their SQL ships with it.
  outputFileTracingIncludes: { '/**': ['./supabase/migrations/*.sql', './local/db/*.sql'] },
};

export default nextConfig;
