package check

import "testing"

func TestOriginsFromPreviewHost(t *testing.T) {
	run(t, []checkCase{
		{
			name: "the preview article's stack",
			files: map[string]string{"compose.yml": lines(
				"services:",
				"  api:",
				"    build: .",
				"    command: ./bin/api-entrypoint.sh",
				"    environment:",
				"      ALLOWED_HOSTS: ${PREVIEW_HOST},api",
				"      CSRF_TRUSTED_ORIGINS: https://${PREVIEW_HOST}",
				"      CORS_ALLOWED_ORIGINS: https://${PREVIEW_HOST:-localhost},http://$PREVIEW_HOST",
				"  web:",
				"    build: .",
				"    command: node server.js",
				"    environment:",
				"      # NEXT_PUBLIC_API_URL: https://${PREVIEW_HOST}/old",
				"      NEXT_PUBLIC_API_URL: https://${PREVIEW_HOST}/api",
				"      NEXTAUTH_URL: ${PREVIEW_URL}",
				"      PREVIEW: ${PREVIEW_HOST}",
			)},
			want: []string{
				`compose.yml:7: warning: "https://${PREVIEW_HOST}" builds an origin from PREVIEW_HOST, a bare host name: it is wrong under tandem up (http://localhost:8080) and for previews on a port of their own; write "${PREVIEW_URL}"`,
				`compose.yml:8: warning: "https://${PREVIEW_HOST:-localhost}" builds an origin from PREVIEW_HOST, a bare host name: it is wrong under tandem up (http://localhost:8080) and for previews on a port of their own; write "${PREVIEW_URL}"`,
				`compose.yml:8: warning: "http://$PREVIEW_HOST" builds an origin from PREVIEW_HOST, a bare host name: it is wrong under tandem up (http://localhost:8080) and for previews on a port of their own; write "${PREVIEW_URL}"`,
				`compose.yml:14: warning: "https://${PREVIEW_HOST}/api" builds an origin from PREVIEW_HOST, a bare host name: it is wrong under tandem up (http://localhost:8080) and for previews on a port of their own; write "${PREVIEW_URL}/api"`,
			},
		},
		{
			name: "PREVIEW_URL is fine",
			files: map[string]string{"compose.yml": lines(
				"services:",
				"  web:",
				"    build: .",
				"    command: node server.js",
				"    environment:",
				"      NEXT_PUBLIC_API_URL: ${PREVIEW_URL}/api",
				"      ALLOWED_HOSTS: ${PREVIEW_HOST},api",
			)},
		},
	})
}
