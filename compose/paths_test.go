package compose

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

func writeTestFile(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t testing.TB, target, link string) {
	t.Helper()
	os.MkdirAll(filepath.Dir(link), 0o755)
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// secretFile stands for a file of the machine no stack may reach
// (/etc/shadow): its content must appear in no error.
func secretFile(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "shadow")
	writeTestFile(t, p, "root:$y$j9T$SECRETHASH:19000:0:99999:7:::\nSECRET=HOST_ONLY\n")
	return p
}

// repo makes a repository work tree (it has .git) holding files, with the
// Compose file at compose, and makes its directory the working directory.
func repo(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, ".git"), 0o755)
	for name, content := range files {
		writeTestFile(t, filepath.Join(dir, name), content)
	}
	t.Chdir(dir)
	return dir
}

func wantErrorContaining(t *testing.T, err error, parts ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want an error with %q", parts)
	}
	if tandem.ErrorCode(err) != tandem.EINVALID {
		t.Errorf("code %q", tandem.ErrorCode(err))
	}
	for _, p := range parts {
		if !strings.Contains(err.Error(), p) {
			t.Errorf("error %q lacks %q", err, p)
		}
	}
	for _, leaked := range []string{"SECRETHASH", "HOST_ONLY"} {
		if strings.Contains(err.Error(), leaked) {
			t.Errorf("the error quotes a file outside the project: %q", err)
		}
	}
}

const api = "services:\n  api:\n    build: .\n    command: sleep 1\n"

// The case: a route's error page names /etc/shadow. It is refused
// everywhere, strict or not: the gateway would serve it to anyone.
func TestErrorPageOutsideIsRefused(t *testing.T) {
	shadow := secretFile(t)
	for name, page := range map[string]string{"dot-dot": "../../../../../../../../" + strings.TrimLeft(shadow, "/"), "absolute": shadow, "relative": ""} {
		t.Run(name, func(t *testing.T) {
			dir := repo(t, nil)
			if page == "" {
				page, _ = filepath.Rel(dir, shadow) // ../../…/shadow
			}
			writeTestFile(t, "compose.yml", api+"x-tandem:\n  routes:\n    - path: /\n      to: api:8000\n      error_page: "+page+"\n")
			_, err := load(t, Options{})
			wantErrorContaining(t, err, "compose.yml:9: error page", "is outside the project")
		})
	}
	t.Run("symbolic link", func(t *testing.T) {
		dir := repo(t, map[string]string{"compose.yml": api + "x-tandem:\n  routes:\n    - {path: /, to: api:8000, error_page: errors/502.html}\n"})
		symlink(t, shadow, filepath.Join(dir, "errors", "502.html"))
		for _, root := range []string{"", dir} {
			_, err := load(t, Options{Root: root})
			wantErrorContaining(t, err, "compose.yml:7: error page \"errors/502.html\" is outside the project")
		}
	})
}

// The page is read when the stack is loaded: the gateway never opens the
// path, which a build may have replaced since by a link to anywhere.
func TestErrorPageIsReadAtLoad(t *testing.T) {
	dir := repo(t, map[string]string{
		"compose.yml":     api + "x-tandem:\n  routes:\n    - {path: /, to: api:8000, error_page: errors/502.html}\n",
		"errors/502.html": "<h1>down for a moment</h1>",
	})
	st := mustLoad(t, Options{Root: dir})
	os.Remove(filepath.Join(dir, "errors", "502.html"))
	symlink(t, secretFile(t), filepath.Join(dir, "errors", "502.html"))
	if got := st.Routes[0].ErrorPageBody; got != "<h1>down for a moment</h1>" {
		t.Errorf("ErrorPageBody = %q", got)
	}
	writeTestFile(t, filepath.Join(dir, "empty.html"), "")
	writeTestFile(t, "compose.yml", api+"x-tandem:\n  routes:\n    - {path: /, to: api:8000, error_page: empty.html}\n")
	_, err := load(t, Options{Root: dir})
	wantErrorContaining(t, err, `compose.yml:7: error page "empty.html" is empty`)
}

// Under tandem serve (Root set) every path stays in the work tree; a
// monorepo's ../backend inside it is fine.
func TestStrictPaths(t *testing.T) {
	outside := t.TempDir()
	shadow := secretFile(t)
	cases := []struct {
		name, service string
		want          []string
	}{
		{"build context", "    build: " + outside + "\n", []string{"deploy/compose.yml:4: build context of service \"api\"", "is outside the project (the repository)"}},
		{"build context through a link", "    build: ./linked\n", []string{"deploy/compose.yml:4: build context of service \"api\" \"deploy/linked\" is outside"}},
		{"dockerfile", "    build: {context: ../backend, dockerfile: ../../../../../../../../.." + shadow + "}\n", []string{"deploy/compose.yml:4: Dockerfile of service \"api\""}},
		{"working_dir", "    build: ../backend\n    working_dir: ../../../../../../../../..\n", []string{"deploy/compose.yml:5: working_dir of service \"api\""}},
		{"bind mount", "    build: ../backend\n    volumes: [\"/:/host\"]\n", []string{"deploy/compose.yml:5: bind mount of service \"api\" \"/\" is outside"}},
		{"env_file", "    build: ../backend\n    env_file: " + shadow + "\n", []string{"deploy/compose.yml:5: env_file"}},
		{"env_file through a link", "    build: ../backend\n    env_file: ./app.env\n", []string{"deploy/compose.yml:5: env_file \"deploy/app.env\" is outside"}},
		{"secret file", "    build: ../backend\nsecrets:\n  key: {file: " + shadow + "}\n", []string{"deploy/compose.yml:6: file of secret \"key\""}},
		{"extends", "    extends: {file: " + shadow + ", service: api}\n", []string{"deploy/compose.yml:4: extended file"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := repo(t, map[string]string{
				"deploy/compose.yml": "services:\n  api:\n    command: sleep 1\n" + tc.service,
				"backend/app.py":     "",
			})
			symlink(t, outside, filepath.Join(dir, "deploy", "linked"))
			symlink(t, shadow, filepath.Join(dir, "deploy", "app.env"))
			_, err := Load(t.Context(), Options{Files: []string{"deploy/compose.yml"}, Root: dir})
			wantErrorContaining(t, err, tc.want...)

			// On the user's own machine the same paths are warnings, but
			// for what the gateway would serve.
			if strings.Contains(tc.name, "env_file") || tc.name == "extends" || tc.name == "dockerfile" {
				return // they name a file of no stack: compose-go would fail on it
			}
			st, err := Load(t.Context(), Options{Files: []string{"deploy/compose.yml"}})
			if err != nil {
				t.Fatalf("lenient: %v", err)
			}
			if len(st.Warnings) != 1 || st.Warnings[0].Severity != tandem.SeverityWarning || !strings.Contains(st.Warnings[0].String(), "is outside the project") {
				t.Errorf("lenient warnings: %v", st.Warnings)
			}
		})
	}
	t.Run("a monorepo's ../backend", func(t *testing.T) {
		dir := repo(t, map[string]string{
			"deploy/compose.yml": "services:\n  api:\n    build: ../backend\n    command: sleep 1\n    env_file: ../backend/app.env\n    volumes: [\"../backend/data:/data\"]\n",
			"backend/app.env":    "GREETING=hello\n",
		})
		st, err := Load(t.Context(), Options{Files: []string{"deploy/compose.yml"}, Root: dir})
		if err != nil {
			t.Fatal(err)
		}
		if st.Services[0].Environment["GREETING"] != "hello" || len(st.Warnings) != 0 {
			t.Errorf("env %v, warnings %v", st.Services[0].Environment, st.Warnings)
		}
	})
}

// include and extends lead to files compose-go reads: each is checked, and
// what it includes in turn, before compose-go reads anything.
func TestIncludeIsFollowed(t *testing.T) {
	shadow := secretFile(t)
	dir := repo(t, map[string]string{
		"compose.yml":      "include: [parts/db.yml]\n" + api,
		"parts/db.yml":     "include:\n  - path: ${PART:-deeper.yml}\nservices:\n  db: {image: postgres:16}\n",
		"parts/deeper.yml": "include: [" + shadow + "]\n",
	})
	_, err := load(t, Options{Root: dir})
	wantErrorContaining(t, err, "parts/deeper.yml: included file", "is outside the project")

	// An included file's variables come from its own env_file too.
	writeTestFile(t, filepath.Join(dir, "parts", "deeper.yml"), "services:\n  cache: {image: postgres:16}\n")
	writeTestFile(t, filepath.Join(dir, "parts", ".env"), "PART="+shadow+"\n")
	_, err = load(t, Options{Root: dir})
	wantErrorContaining(t, err, "parts/db.yml: included file")
	os.Remove(filepath.Join(dir, "parts", ".env"))
	st := mustLoad(t, Options{Root: dir})
	if st.Service("cache") == nil || st.Service("db") == nil {
		t.Errorf("services %v", st.Services)
	}
}

// Huge files are refused before they are read, not after minutes and as
// much memory as they are big.
func TestHugeFilesAreRefused(t *testing.T) {
	dir := repo(t, map[string]string{"app.env": "A=1\n"})
	huge := func(name string, size int64) {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := f.Truncate(size); err != nil { // sparse: no disk, no time
			t.Fatal(err)
		}
	}
	huge("compose.yml", 900<<20)
	began := time.Now()
	_, err := load(t, Options{})
	wantErrorContaining(t, err, "compose file compose.yml: it is 900.0 MiB; tandem reads at most 4.0 MiB")
	if d := time.Since(began); d > 2*time.Second {
		t.Errorf("refusing a 900 MB file took %v", d)
	}

	writeTestFile(t, "compose.yml", api+"    env_file: big.env\n")
	huge("big.env", MaxFileSize+1)
	_, err = load(t, Options{})
	wantErrorContaining(t, err, `compose.yml:5: env_file "big.env": it is 4.0 MiB; tandem reads at most 4.0 MiB`)

	writeTestFile(t, "compose.yml", api)
	huge(".env", MaxFileSize+1)
	_, err = load(t, Options{})
	wantErrorContaining(t, err, `.env: .env ".env": it is`)
}

// A FIFO or a device where a file should be is refused, not waited on.
func TestSpecialFilesAreRefused(t *testing.T) {
	dir := repo(t, map[string]string{"compose.yml": api + "    env_file: pipe.env\n"})
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.env"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := load(t, Options{Root: dir})
	wantErrorContaining(t, err, `compose.yml:5: env_file "pipe.env" is not a regular file`)

	os.Remove("compose.yml")
	symlink(t, "/dev/zero", filepath.Join(dir, "compose.yml"))
	_, err = load(t, Options{})
	wantErrorContaining(t, err, "compose file compose.yml: is not a regular file")
	os.Remove("compose.yml")
	if err := syscall.Mkfifo(filepath.Join(dir, "compose.yml"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = load(t, Options{Root: dir})
	wantErrorContaining(t, err, "compose file compose.yml: is not a regular file")
}

// A stack from a pull request does not see the server's environment.
func TestStrictIgnoresTandemsEnvironment(t *testing.T) {
	t.Setenv("SERVER_ONLY_TOKEN", "ghp_server")
	dir := repo(t, map[string]string{"compose.yml": api + "    environment:\n      TOKEN: ${SERVER_ONLY_TOKEN:-unset}\n"})
	if got := mustLoad(t, Options{Root: dir}).Services[0].Environment["TOKEN"]; got != "unset" {
		t.Errorf("strict: TOKEN = %q", got)
	}
	if got := mustLoad(t, Options{}).Services[0].Environment["TOKEN"]; got != "ghp_server" {
		t.Errorf("tandem up: TOKEN = %q", got)
	}
}

// SecretNames reads the file before Load does: as carefully.
func TestSecretNamesOfHugeFile(t *testing.T) {
	dir := t.TempDir()
	f, _ := os.Create(filepath.Join(dir, "compose.yml"))
	f.Truncate(900 << 20)
	f.Close()
	began := time.Now()
	if names := SecretNames([]string{filepath.Join(dir, "compose.yml")}); names != nil || time.Since(began) > time.Second {
		t.Errorf("%v in %v", names, time.Since(began))
	}
}
