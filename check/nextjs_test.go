package check

import "testing"

const nextPackage = `{"name": "shop", "dependencies": {"next": "14.2.5", "react": "18.3.1"}}`

func TestNextjsAssets(t *testing.T) {
	shop := []string{"  shop:", "    build: ./shop", "    command: npm run start"}
	legacy := []string{"  legacy:", "    build: ./legacy", "    expose: [8000]"}
	run(t, []checkCase{
		{
			name: "at the root",
			files: map[string]string{
				"compose.yml":       stack([]string{"{path: /, to: shop:3000}"}, shop...),
				"shop/package.json": nextPackage,
			},
		},
		{
			name: "under a sub-path",
			files: map[string]string{
				"compose.yml":       stack([]string{"{path: /shop/, to: shop:3000}", "{path: /, to: legacy:8000}"}, svcs(shop, legacy)...),
				"shop/package.json": nextPackage,
			},
			want: []string{`compose.yml:3: warning: service "shop" is a Next.js app served under "/shop/", but /_next/ goes to legacy:8000: its pages will load without scripts and styles; set basePath: "/shop" in its next.config or route /_next/ to shop:3000`},
		},
		{
			name: "no route for assets",
			files: map[string]string{
				"compose.yml":       stack([]string{"{path: /shop/, to: shop:3000}"}, shop...),
				"shop/package.json": `{"devDependencies": {"next": "16.0.0"}}`,
			},
			want: []string{`compose.yml:3: warning: service "shop" is a Next.js app served under "/shop/", but no route serves /_next/: its pages will load without scripts and styles; set basePath: "/shop" in its next.config or route /_next/ to shop:3000`},
		},
		{
			name: "basePath",
			files: map[string]string{
				"compose.yml":          stack([]string{"{path: /shop/, to: shop:3000}", "{path: /, to: legacy:8000}"}, svcs(shop, legacy)...),
				"shop/package.json":    nextPackage,
				"shop/next.config.mjs": "/** @type {import('next').NextConfig} */\nconst nextConfig = {\n  basePath: '/shop',\n}\nexport default nextConfig\n",
			},
		},
		{
			name: "basePath of another sub-path",
			files: map[string]string{
				"compose.yml":         stack([]string{"{path: /store/, to: shop:3000}", "{path: /, to: legacy:8000}"}, svcs(shop, legacy)...),
				"shop/package.json":   nextPackage,
				"shop/next.config.js": "module.exports = { basePath: \"/shop\" }\n",
			},
			want: []string{`compose.yml:3: warning: service "shop" is a Next.js app served under "/store/", but /_next/ goes to legacy:8000: its pages will load without scripts and styles; set basePath: "/store" in its next.config or route /_next/ to shop:3000`},
		},
		{
			name: "basePath stripped",
			files: map[string]string{
				"compose.yml":         stack([]string{"{path: /shop/, to: shop:3000, strip_prefix: true}", "{path: /, to: legacy:8000}"}, svcs(shop, legacy)...),
				"shop/package.json":   nextPackage,
				"shop/next.config.ts": "const config = { basePath: `/shop` };\nexport default config;\n",
			},
			want: []string{`compose.yml:3: warning: service "shop" sets basePath "/shop" in its next.config, which strip_prefix removes before the app sees it: drop strip_prefix`},
		},
		{
			name: "assets routed to it",
			files: map[string]string{
				"compose.yml": stack([]string{"{path: /shop/, to: shop:3000}", "{path: /_next/, to: shop:3000}", "{path: /, to: legacy:8000}"},
					svcs(shop, legacy)...),
				"shop/package.json": nextPackage,
			},
		},
		{
			name: "next in its command",
			files: map[string]string{"compose.yml": stack([]string{"{path: /app/, to: app:3000}", "{path: /, to: legacy:8000}"},
				svcs([]string{"  app:", "    image: node:20", "    command: npx next start -p 3000"}, legacy)...)},
			want: []string{`compose.yml:3: warning: service "app" is a Next.js app served under "/app/", but /_next/ goes to legacy:8000: its pages will load without scripts and styles; set basePath: "/app" in its next.config or route /_next/ to app:3000`},
		},
		{
			name: "not Next.js",
			files: map[string]string{
				"compose.yml":       stack([]string{"{path: /shop/, to: shop:3000}", "{path: /, to: legacy:8000}"}, svcs(shop, legacy)...),
				"shop/package.json": `{"dependencies": {"express": "4", "next-auth": "4"}}`,
			},
		},
	})
}
