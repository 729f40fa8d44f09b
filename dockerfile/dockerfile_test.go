package dockerfile

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

// lines joins Dockerfile lines, so a test can count them: the first is line 1.
func lines(l ...string) string { return strings.Join(l, "\n") + "\n" }

func parse(t *testing.T, src string, opt Options) *Image {
	t.Helper()
	img, err := Parse(strings.NewReader(src), opt)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return img
}

func TestCommand(t *testing.T) {
	for _, tc := range []struct {
		name, src      string
		opt            Options
		entrypoint, cm []string
	}{
		{"exec CMD", lines("FROM python:3.12", `CMD ["python3", "server.py"]`),
			Options{}, nil, []string{"python3", "server.py"}},
		{"shell CMD is run by /bin/sh, unexpanded", lines("FROM python:3.12", "ENV PORT=8000", "CMD python3 server.py --port $PORT"),
			Options{}, nil, []string{"/bin/sh", "-c", "python3 server.py --port $PORT"}},
		{"SHELL changes the shell form", lines("FROM x", `SHELL ["/bin/bash", "-eo", "pipefail", "-c"]`, "CMD echo hi | cat"),
			Options{}, nil, []string{"/bin/bash", "-eo", "pipefail", "-c", "echo hi | cat"}},
		{"exec ENTRYPOINT takes CMD as arguments", lines("FROM x", `ENTRYPOINT ["python3"]`, `CMD ["server.py"]`),
			Options{}, []string{"python3"}, []string{"server.py"}},
		{"CMD before ENTRYPOINT in the stage stays", lines("FROM x", `CMD ["server.py"]`, `ENTRYPOINT ["python3"]`),
			Options{}, []string{"python3"}, []string{"server.py"}},
		{"shell ENTRYPOINT ignores CMD", lines("FROM x", "ENTRYPOINT exec python3 server.py", `CMD ["--debug"]`),
			Options{}, []string{"/bin/sh", "-c", "exec python3 server.py"}, nil},
		{"the last CMD wins", lines("FROM x", `CMD ["a"]`, `CMD ["b"]`),
			Options{}, nil, []string{"b"}},
		{"ENTRYPOINT [] clears it", lines("FROM x", `ENTRYPOINT ["tini", "--"]`, "ENTRYPOINT []", `CMD ["b"]`),
			Options{}, nil, []string{"b"}},
		{"a stage inherits FROM an earlier one", lines("FROM python AS base", `CMD ["python3", "server.py"]`, "FROM base", "ENV A=1"),
			Options{}, nil, []string{"python3", "server.py"}},
		{"an ENTRYPOINT in the later stage resets the inherited CMD", lines("FROM python AS base", `CMD ["server.py"]`, "FROM base", `ENTRYPOINT ["python3"]`),
			Options{}, []string{"python3"}, nil},
		{"stage names are case-insensitive", lines("FROM python AS Base", `CMD ["a"]`, "FROM BASE"),
			Options{}, nil, []string{"a"}},
		{"FROM an image with a stage's name later in the file is the image", lines("FROM app", "FROM python AS app", `CMD ["a"]`),
			Options{Target: ""}, nil, []string{"a"}},
		{"target picks the stage", lines("FROM python AS dev", `CMD ["dev"]`, "FROM python AS prod", `CMD ["prod"]`),
			Options{Target: "dev"}, nil, []string{"dev"}},
		{"FROM ${BASE} with a meta ARG naming a stage", lines("ARG BASE=dev", "FROM python AS dev", `CMD ["dev"]`, "FROM ${BASE}"),
			Options{}, nil, []string{"dev"}},
		{"no CMD", lines("FROM node:20"), Options{}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := parse(t, tc.src, tc.opt)
			if !reflect.DeepEqual(img.Entrypoint, tc.entrypoint) || !reflect.DeepEqual(img.Cmd, tc.cm) {
				t.Errorf("entrypoint %q cmd %q, want %q %q", img.Entrypoint, img.Cmd, tc.entrypoint, tc.cm)
			}
		})
	}
}

func TestHealthcheck(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      *Healthcheck
	}{
		{"exec form with every flag", lines("FROM x", `HEALTHCHECK --interval=5s --timeout=3s --start-period=10s --start-interval=1s --retries=12 CMD ["./bin/healthcheck"]`),
			&Healthcheck{Test: []string{"CMD", "./bin/healthcheck"}, Interval: 5 * time.Second, Timeout: 3 * time.Second, StartPeriod: 10 * time.Second, StartInterval: time.Second, Retries: 12}},
		{"shell form", lines("FROM x", "HEALTHCHECK CMD curl -f http://localhost:8000/ || exit 1"),
			&Healthcheck{Test: []string{"CMD-SHELL", "curl -f http://localhost:8000/ || exit 1"}}},
		{"NONE", lines("FROM x", "HEALTHCHECK NONE"), &Healthcheck{Test: []string{"NONE"}}},
		{"inherited", lines("FROM x AS a", "HEALTHCHECK CMD true", "FROM a"), &Healthcheck{Test: []string{"CMD-SHELL", "true"}}},
		{"NONE over an inherited one", lines("FROM x AS a", "HEALTHCHECK CMD true", "FROM a", "HEALTHCHECK NONE"), &Healthcheck{Test: []string{"NONE"}}},
		{"none", lines("FROM x"), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parse(t, tc.src, Options{}).Healthcheck; !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestEnvAndArgs(t *testing.T) {
	src := lines(
		"ARG PY=3.12",                           // 1: meta ARG, visible in a stage only if declared again
		"ARG CHANNEL=stable",                    // 2
		"FROM python:${PY} AS base",             // 3
		"ARG PY",                                // 4: takes the meta value
		"ARG VERSION=1.0",                       // 5
		"ENV APP_VERSION=$VERSION PY=${PY}",     // 6
		"ENV URL=http://x/${CHANNEL:-none}",     // 7: CHANNEL not declared here
		"ENV PATH=/app/node_modules/.bin:$PATH", // 8
		"FROM base",                             // 9
		`ENV GREETING="hello world" \`,          // 10
		"    NAME=${APP_VERSION}-b",             // 11
		"ENV APP_VERSION=2",                     // 12: replaces, keeps its place
	)
	img := parse(t, src, Options{Args: map[string]string{"VERSION": "9.9"}})
	want := []Var{
		{"APP_VERSION", "2", 12},
		{"PY", "3.12", 6},
		{"URL", "http://x/none", 7},
		{"PATH", "/app/node_modules/.bin:", 8},
		{"GREETING", "hello world", 10},
		{"NAME", "9.9-b", 10},
	}
	if !reflect.DeepEqual(img.Env, want) {
		t.Errorf("env:\n got %+v\nwant %+v", img.Env, want)
	}

	// Without the build arg, ARG's default; a build arg for a meta ARG
	// reaches the stage that declares it.
	img = parse(t, src, Options{Args: map[string]string{"PY": "3.13"}})
	if len(img.Env) != 6 || img.Env[1] != (Var{"PY", "3.13", 6}) || img.Env[5] != (Var{"NAME", "1.0-b", 10}) {
		t.Errorf("env %+v", img.Env)
	}
}

func TestExposeAndStopSignal(t *testing.T) {
	img := parse(t, lines("FROM x AS a", "EXPOSE 9000/udp", "FROM a", "ARG PORT=3000", "EXPOSE $PORT 8000/tcp 7000-7002", "STOPSIGNAL SIGQUIT"), Options{})
	if want := []int{3000, 7000, 7001, 7002, 8000, 9000}; !reflect.DeepEqual(img.Ports, want) {
		t.Errorf("ports %v, want %v", img.Ports, want)
	}
	if img.StopSignal != "SIGQUIT" {
		t.Errorf("stop signal %q", img.StopSignal)
	}
	if _, err := Parse(strings.NewReader(lines("FROM x", "EXPOSE 70000")), Options{}); err == nil || !strings.Contains(err.Error(), "line 2:") {
		t.Errorf("EXPOSE 70000: %v", err)
	}
}

func TestNotes(t *testing.T) {
	ctx := fstest.MapFS{
		"requirements.txt": {Data: []byte("django\n")},
		"src/app.py":       {Data: []byte("")},
		"static/x.css":     {Data: []byte("")},
	}
	for _, tc := range []struct {
		name, src string
		want      []string // "line: instruction why-prefix"
	}{
		{"the example backend", lines(
			"FROM python:3.12-slim",
			"WORKDIR /app",
			"COPY requirements.txt .",
			"RUN pip install -r requirements.txt",
			"COPY . .",
			"RUN useradd --system --no-create-home app",
			"USER app",
			`CMD ["./bin/api-entrypoint.sh"]`,
		), []string{
			"4: RUN pip install -r requirements.txt is not run by the process runtime (it installs Python packages): install what it installs on this machine",
			"6: RUN useradd --system --no-create-home app is not run by the process runtime (it changes users or file owners)",
			"7: USER app is not honoured",
		}},
		{"kinds, continued lines, root", lines(
			"FROM node:20",
			"RUN apt-get update \\",
			"  && apt-get install -y libpq-dev \\",
			"  && python3 -m pip install psycopg",
			"RUN npm ci",
			"RUN npm run build",
			"USER root",
		), []string{
			"2: RUN apt-get update && apt-get install -y libpq-dev && python3 -m pip ... is not run by the process runtime (it installs system packages and Python packages)",
			"5: RUN npm ci is not run by the process runtime (it installs Node packages): run it in x-tandem.build",
			"6: RUN npm run build is not run by the process runtime: do what it does on this machine, or run it in x-tandem.build",
		}},
		{"WORKDIR the context is not copied to", lines("FROM x", "WORKDIR /srv", `CMD ["python3", "app.py"]`),
			[]string{"2: WORKDIR /srv is a path in the image and no COPY puts the build context there"}},
		{"COPY that moves files", lines("FROM x", "WORKDIR /app", "COPY src .", "COPY static/ ./static/", "COPY src/app.py /opt/app.py"),
			[]string{"3: COPY src . puts files at /app, where the build context does not have them", "5: COPY src/app.py /opt/app.py puts files at /opt/app.py"}},
		{"COPY . into the WORKDIR set later", lines("FROM x", "COPY . /app", "WORKDIR /app"), nil},
		{"a multi-stage build", lines(
			"FROM node:20 AS deps", // 1
			"RUN npm ci",           // 2
			"FROM node:20 AS unused",
			"RUN apt-get install -y foo", // 4: not needed by the target
			"FROM node:20 AS build",
			"COPY --from=deps /node_modules ./node_modules",
			"RUN npm run build", // 7
			"FROM node:20-slim",
			"WORKDIR /app",
			"COPY . .",
			"COPY --from=build /app/.next ./.next", // 11
			"COPY --from=nginx:1 /etc/nginx /etc/nginx",
			"ADD https://example.com/x.tar.gz /tmp/",
			`CMD ["/app/start.sh"]`, // 14
		), []string{
			"2: RUN npm ci is not run",
			"7: RUN npm run build is not run",
			`11: COPY --from=build /app/.next ./.next copies from stage "build", which the process runtime does not build`,
			`12: COPY --from=nginx:1 /etc/nginx /etc/nginx copies from image "nginx:1"`,
			"13: ADD https://example.com/x.tar.gz /tmp/ downloads at build time",
			"14: CMD /app/start.sh names a path in the image: the process runtime runs the command in the build context, where it is ./start.sh",
		}},
		{"a shell-form ENTRYPOINT naming its script", lines("FROM x", "WORKDIR /app", "COPY . .", "ENTRYPOINT /app/bin/run --fast"),
			[]string{"4: ENTRYPOINT /app/bin/run names a path in the image"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img := parse(t, tc.src, Options{Context: ctx})
			if len(img.Notes) != len(tc.want) {
				t.Fatalf("got %d notes, want %d:\n%s", len(img.Notes), len(tc.want), notesString(img.Notes))
			}
			for i, n := range img.Notes {
				got := strings.Join([]string{strconv.Itoa(n.Line), n.String()}, ": ")
				if !strings.HasPrefix(got, tc.want[i]) {
					t.Errorf("note %d:\n got %s\nwant %s...", i, got, tc.want[i])
				}
			}
		})
	}
}

func notesString(notes []Note) string {
	var b strings.Builder
	for _, n := range notes {
		b.WriteString(strconv.Itoa(n.Line) + ": " + n.String() + "\n")
	}
	return b.String()
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		src    string
		opt    Options
		line   int
		substr string
	}{
		{lines("FROM x", "FRM y"), Options{}, 2, "unknown instruction: FRM"},
		{lines("FROM x", "HEALTHCHECK --interval=abc CMD true"), Options{}, 2, "invalid duration"},
		{lines("# a comment", "CMD [\"x\"]"), Options{}, 2, "no build stage"},
		{"", Options{}, 0, "no instructions"},
		{lines("FROM x", "ENV A=${B:?B is required}"), Options{}, 2, ""},
		{lines("FROM x AS a"), Options{Target: "b"}, 0, `target stage "b" could not be found`},
		{lines("FROM x", "USER ${U:?set U}"), Options{}, 2, "set U"},
		{"FROM x\n" + strings.Repeat("#", MaxSize), Options{}, 0, "larger than"},
	} {
		_, err := Parse(strings.NewReader(tc.src), tc.opt)
		var e *Error
		if !errors.As(err, &e) || e.Line != tc.line || !strings.Contains(e.Msg, tc.substr) {
			t.Errorf("%.40q: got %#v, want line %d with %q", tc.src, err, tc.line, tc.substr)
		}
		if e != nil && strings.Contains(e.Msg, "dockerfile parse error") {
			t.Errorf("%q: the line is said twice: %v", tc.src, err)
		}
	}
}
