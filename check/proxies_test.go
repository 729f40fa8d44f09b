package check

import "testing"

const (
	profileAdvice = "put the service under a profile (profiles: [docker]) so docker compose still runs it and tandem does not"
	lacks         = ", and the stack has no x-tandem.routes: those are what it lacks"
)

func TestReverseProxyServices(t *testing.T) {
	conf := "server { listen 80; location / { proxy_pass http://api:8000; } }\n"
	run(t, []checkCase{
		{
			name: "the seed's nginx with its config mounted",
			files: map[string]string{
				"compose.yml": lines("services:",
					"  nginx:",
					"    image: nginx:alpine",
					"    volumes:",
					"      - ./nginx.conf:/etc/nginx/conf.d/default.conf",
					"  api:", "    image: api"),
				"nginx.conf": conf,
			},
			want: []string{`compose.yml:3: warning: service "nginx" runs nginx, whose job tandem's gateway does` + lacks +
				"; convert its config with `tandem routes --from-nginx ./nginx.conf` and paste the output into the Compose file; " + profileAdvice},
		},
		{
			name: "a directory of configs under /etc/nginx",
			files: map[string]string{
				"compose.yml": stack([]string{"{path: /, to: api:8000}"},
					"  edge:", "    image: docker.io/library/nginx:1.27", "    volumes: [\"./edge:/etc/nginx/conf.d:ro\"]",
					"  api:", "    image: api"),
				"edge/b.conf": conf, "edge/a.conf": conf, "edge/mime.types": "",
			},
			want: []string{`compose.yml:6: warning: service "edge" runs nginx, whose job tandem's gateway does` +
				"; convert its config with `tandem routes --from-nginx ./edge/a.conf` and `tandem routes --from-nginx ./edge/b.conf` and paste the output into the Compose file; " + profileAdvice},
		},
		{
			name: "nginx without a config of its own",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: api:8000}"},
				"  edge:", "    image: registry.example.com:5000/nginx@sha256:0123", "    volumes: [\"./static:/usr/share/nginx/html\"]",
				"  api:", "    image: api")},
			want: []string{`compose.yml:6: warning: service "edge" runs nginx, whose job tandem's gateway does; write its routing as x-tandem.routes; ` + profileAdvice},
		},
		{
			name: "caddy, traefik and haproxy",
			files: map[string]string{"compose.yml": lines("services:",
				"  caddy:", "    image: caddy:2",
				"  traefik:", "    image: traefik:v3",
				"  lb:", "    image: haproxy:2.9")},
			want: []string{
				`compose.yml:3: warning: service "caddy" runs Caddy, whose job tandem's gateway does` + lacks + "; write its routing as x-tandem.routes; " + profileAdvice,
				`compose.yml:5: warning: service "traefik" runs Traefik, whose job tandem's gateway does` + lacks + "; write its routing as x-tandem.routes; " + profileAdvice,
				`compose.yml:7: warning: service "lb" runs HAProxy, whose job tandem's gateway does` + lacks + "; write its routing as x-tandem.routes; " + profileAdvice,
			},
		},
		{
			name: "under a profile tandem does not enable",
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: api:8000}"},
				"  edge:", "    image: nginx:alpine", "    profiles: [docker]", "  api:", "    image: api")},
		},
		{
			name:     "routed to on purpose",
			profiles: []string{"docker"},
			files: map[string]string{"compose.yml": stack([]string{"{path: /, to: edge:80}"},
				"  edge:", "    image: nginx:alpine", "    profiles: [docker]")},
		},
		{
			name: "names that only look like a proxy",
			files: map[string]string{"compose.yml": lines("services:",
				"  exporter:", "    image: nginx/nginx-prometheus-exporter:1.1",
				"  app:", "    image: ghcr.io/nginx-org/app:1")},
		},
	})
}

func TestImageName(t *testing.T) {
	for image, want := range map[string]string{
		"nginx":                               "nginx",
		"nginx:alpine":                        "nginx",
		"docker.io/library/nginx:1.27":        "nginx",
		"localhost:5000/NGINX:1":              "nginx",
		"caddy@sha256:abc":                    "caddy",
		"traefik:v3.1@sha256:abc":             "traefik",
		"nginxinc/nginx-unprivileged:stable":  "nginx-unprivileged",
		"nginx/nginx-prometheus-exporter:1.1": "nginx-prometheus-exporter",
		"":                                    "",
	} {
		if got := imageName(image); got != want {
			t.Errorf("imageName(%q) = %q, want %q", image, got, want)
		}
	}
}
