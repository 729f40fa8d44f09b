package dockerfile

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParse checks what holds for any input: an error is an *Error at a
// line of the file; a result's notes are at lines of the file, its ports
// sorted and valid, its variables unique, its healthcheck of a known
// type; and parsing is deterministic.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		lines("FROM python:3.12-slim", "WORKDIR /app", "COPY requirements.txt .", "RUN pip install -r requirements.txt", "COPY . .", "USER app", "EXPOSE 8000", `HEALTHCHECK --interval=5s CMD ["./bin/healthcheck"]`, `CMD ["./bin/api-entrypoint.sh"]`),
		lines("ARG V=1", "FROM x AS a", "ARG V", "ENV A=$V B=${V:-2}", "FROM a", "ENTRYPOINT exec run", `CMD ["x"]`),
		lines("# escape=`", "FROM x", "RUN echo `", "  hi", "COPY --from=0 /a /b", "EXPOSE 1-3/udp"),
		lines("FROM x", "RUN <<EOF", "apt-get install -y x", "EOF", "SHELL [\"bash\", \"-c\"]", "CMD echo"),
	} {
		f.Add(s, "")
		f.Add(s, "a")
	}
	f.Fuzz(func(t *testing.T, src, target string) {
		n := strings.Count(src, "\n") + 1
		img, err := Parse(strings.NewReader(src), Options{Target: target})
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.Line < 0 || e.Line > n {
				t.Fatalf("error %#v outside the file's %d lines", err, n)
			}
			return
		}
		for _, note := range img.Notes {
			if note.Line < 1 || note.Line > n || note.Instruction == "" || note.Why == "" {
				t.Fatalf("note %+v outside the file's %d lines", note, n)
			}
		}
		if !slices.IsSorted(img.Ports) || len(slices.Compact(slices.Clone(img.Ports))) != len(img.Ports) {
			t.Fatalf("ports %v not sorted and unique", img.Ports)
		}
		if len(img.Ports) > 0 && (img.Ports[0] < 1 || img.Ports[len(img.Ports)-1] > 65535) {
			t.Fatalf("ports %v", img.Ports)
		}
		seen := map[string]bool{}
		for _, v := range img.Env {
			if seen[v.Key] || v.Line < 1 || v.Line > n {
				t.Fatalf("env %+v", img.Env)
			}
			seen[v.Key] = true
		}
		if h := img.Healthcheck; h != nil && (len(h.Test) == 0 || !slices.Contains([]string{"CMD", "CMD-SHELL", "NONE"}, h.Test[0])) {
			t.Fatalf("healthcheck test %q", h.Test)
		}
		again, err := Parse(strings.NewReader(src), Options{Target: target})
		if err != nil || !reflect.DeepEqual(img, again) {
			t.Fatalf("a second parse differs: %v\n%+v\n%+v", err, img, again)
		}
	})
}

// FuzzRoundTrip checks that what a Dockerfile says comes back as said: an
// exec-form CMD and ENTRYPOINT as their argv, a single-quoted ENV value as
// written, a shell-form CMD as the one argument of /bin/sh -c.
func FuzzRoundTrip(f *testing.F) {
	f.Add("python3", "server.py", "hello world")
	f.Add("", "$HOME", `a"b\c`)
	f.Add("ünï", "-c", "${X:-y}")
	f.Fuzz(func(t *testing.T, a, b, v string) {
		if !utf8.ValidString(a) || !utf8.ValidString(b) || !utf8.ValidString(v) {
			return
		}
		argv, _ := json.Marshal([]string{a, b})
		src := lines("FROM x", "ENTRYPOINT "+string(argv), "CMD "+string(argv))
		img, err := Parse(strings.NewReader(src), Options{})
		if err != nil {
			t.Fatalf("%q: %v", src, err)
		}
		if want := []string{a, b}; !reflect.DeepEqual(img.Entrypoint, want) || !reflect.DeepEqual(img.Cmd, want) {
			t.Fatalf("%q: entrypoint %q cmd %q, want %q", src, img.Entrypoint, img.Cmd, want)
		}

		// A value in single quotes is taken as written; a shell-form CMD
		// is one argument, trimmed as the parser trims a line.
		if strings.ContainsAny(v, "'\r\n") {
			return
		}
		src = lines("FROM x", "ENV K='"+v+"'")
		if img, err = Parse(strings.NewReader(src), Options{}); err != nil || len(img.Env) != 1 || img.Env[0].Value != v {
			t.Fatalf("%q: %v %+v", src, err, img)
		}
		cmd := strings.TrimSpace(v)
		if cmd == "" || strings.HasPrefix(cmd, "[") || strings.HasPrefix(cmd, "--") || strings.HasSuffix(cmd, "\\") || strings.ContainsAny(cmd, "\x00\f\v") {
			return
		}
		src = lines("FROM x", "CMD "+cmd)
		if img, err = Parse(strings.NewReader(src), Options{}); err != nil || !reflect.DeepEqual(img.Cmd, []string{"/bin/sh", "-c", cmd}) {
			t.Fatalf("%q: %v %+v", src, err, img)
		}
	})
}
