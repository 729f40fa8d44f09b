package check

import (
	"fmt"
	"testing"

	"github.com/tandem-dev/tandem"
)

func TestDockerfileWarnings(t *testing.T) {
	dockerfile := lines(
		"FROM python:3.12-slim",               // 1
		"ENV PYTHONUNBUFFERED=1 \\",           // 2
		"    STATIC_ROOT=/app/static \\",      // 3
		"    HOME=/home/app",                  // 4
		"WORKDIR /app",                        // 5
		"COPY requirements.txt .",             // 6
		"RUN pip install -r requirements.txt", // 7
		"COPY . .",                            // 8
		"USER app",                            // 9
		`CMD ["python3", "server.py"]`,        // 10
	)
	// The runtime's check, as the process runtime makes it.
	supported := func(svc *tandem.Service) error {
		if len(svc.Argv()) == 0 {
			return fmt.Errorf("service %q has no command and no CMD in its Dockerfile", svc.Name)
		}
		return nil
	}
	run(t, []checkCase{{
		name: "only where the Dockerfile is read",
		files: map[string]string{
			"compose.yml": lines(
				"services:",
				"  api:",
				"    build: ./app",
				"    environment:",
				"      STATIC_ROOT: /srv/static", // Compose wins: no word about line 3
				"  worker:",
				"    build: ./app",
				"    command: python3 worker.py", // its command: the Dockerfile is not read
			),
			"app/Dockerfile": dockerfile,
		},
		supported: supported,
		want: []string{
			`app/Dockerfile:2: warning: service "api": ENV HOME=/home/app names a path in the image: tandem leaves it out of the service's environment (set it under environment: if this machine needs it)`,
			`app/Dockerfile:7: warning: service "api": RUN pip install -r requirements.txt is not run by the process runtime (it installs Python packages): install what it installs on this machine, or run it in x-tandem.build`,
			`app/Dockerfile:9: warning: service "api": USER app is not honoured by the process runtime: the service runs as the user that runs tandem`,
		},
	}, {
		name: "a Dockerfile without CMD",
		files: map[string]string{
			"compose.yml": lines(
				"services:",
				"  api:",
				"    build:",
				"      context: .",
				"      dockerfile: docker/api.Dockerfile",
			),
			"docker/api.Dockerfile": lines("FROM node:20", "RUN npm ci"),
		},
		supported: supported,
		want: []string{
			`compose.yml:2: service "api" has no command and no CMD in its Dockerfile`,
			`docker/api.Dockerfile:2: warning: service "api": RUN npm ci is not run by the process runtime (it installs Node packages): run it in x-tandem.build, which runs in the build context before the service starts`,
		},
	}})
}
