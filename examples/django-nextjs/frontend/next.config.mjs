/** @type {import('next').NextConfig} */
const nextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  // No ESLint in this example's dependencies; keep `next build` quiet about it.
  eslint: { ignoreDuringBuilds: true },
};

export default nextConfig;
