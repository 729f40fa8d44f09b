package preview

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// eventually waits for cond to return "", failing with its last answer.
func eventually(t *testing.T, what string, limit time.Duration, cond func() string) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		msg := cond()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s", what, msg)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pids are the host processes of an instance's services.
func pids(t *testing.T, in *Instance) []int {
	var out []int
	for _, st := range in.Supervisor().Status() {
		if pid, err := strconv.Atoi(st.ID); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	if len(out) == 0 {
		t.Fatal("no process ids")
	}
	return out
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func (h *harness) routed(host string) *Instance {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.routes[host]
}

// slowEvents takes its time to record a preview's falling asleep and waking,
// as a loaded machine's database may: whoever sees it asleep, or is let
// through by its wake, must still find that among its events.
type slowEvents struct{ tandem.PreviewStore }

func (s slowEvents) AddEvent(ctx context.Context, e tandem.Event) (tandem.Event, error) {
	if e.Kind == "asleep" || e.Kind == "awake" {
		time.Sleep(300 * time.Millisecond)
	}
	return s.PreviewStore.AddEvent(ctx, e)
}

// An idle preview sleeps: nothing of it runs, its files stay, its host
// stays routed; a request wakes it with its data, after a restart of the
// server too. The caches meanwhile keep what it uses, however small their
// limit, and evict what nothing uses.
func TestIdlePreviewSleepsWakesAndKeepsItsCaches(t *testing.T) {
	src := repo(t)
	gitIn(t, src, "checkout", "-q", "-b", "feature")
	os.WriteFile(filepath.Join(src, "web", "page.txt"), []byte("page v2"), 0o644)
	os.WriteFile(filepath.Join(src, "web", "migrations", "0002_more.sql"), []byte("insert into article values ('second');"), 0o644)
	commit(t, src, "feature")
	gitIn(t, src, "checkout", "-q", "main")
	data := t.TempDir()
	opts := func(o *Options) {
		o.SleepAfter, o.CacheLimit = 2*time.Second, 1
		o.Store = slowEvents{o.Store}
		o.SnapshotPath = func(id string) string { return filepath.Join(data, "cache", "snapshots", "process", id) }
	}
	h := newHarness(t, data, src, opts)
	defer func() { h.close() }()
	ctx := context.Background()
	const host = "pr-1.previews.example.com"

	p, err := h.m.Create(ctx, CreateRequest{Name: "pr-1", Repo: "shop", Ref: "main", PR: 1})
	if err != nil {
		t.Fatal(err)
	}
	p = h.await("pr-1", p.Generation, tandem.PreviewReady)
	in := h.m.Instance("pr-1")
	var out strings.Builder
	if err := in.Supervisor().Exec(ctx, "web", []string{"/bin/sh", "-c", "psql -h db -U app -d shop -c \"insert into article values ('written before it slept')\""}, &out, &out); err != nil {
		t.Fatalf("%v %s", err, out.String())
	}
	running := pids(t, in)

	asleep := func() string {
		if q, err := h.m.Get(ctx, "pr-1"); err != nil || !q.Asleep {
			return fmt.Sprintf("not asleep: %+v %v", q, err)
		}
		return ""
	}
	eventually(t, "pr-1 to sleep", time.Minute, asleep)
	if events, _ := h.m.Events(ctx, "pr-1", 0); !hasKind(events, "asleep") {
		t.Errorf("asleep, and none of its %d events says so", len(events))
	}
	if h.m.Instance("pr-1") != nil || h.routed(host) != in || in.Awake() {
		t.Fatal("an asleep preview is shown running, or lost its route")
	}
	for _, pid := range running {
		if alive(pid) {
			t.Errorf("pid %d still runs in a sleeping preview", pid)
		}
	}
	if _, err := h.m.Logs(ctx, "pr-1", "web", 10); err == nil || !strings.Contains(err.Error(), "asleep") {
		t.Errorf("logs of a sleeping preview: %v", err)
	}
	if _, err := os.Stat(filepath.Join(data, "previews", "pr-1", strconv.Itoa(p.Serving), "src", "web", "page.built")); err != nil {
		t.Errorf("its work tree: %v", err)
	}

	t.Run("a request wakes it, with its data", func(t *testing.T) {
		wake, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		began := time.Now()
		if err := in.Wake(wake); err != nil {
			t.Fatal(err)
		}
		t.Logf("woken in %s", time.Since(began).Round(time.Millisecond))
		if code, body, err := h.get(host); code != 200 || !strings.Contains(body, "first,written before it slept") {
			t.Errorf("after waking: %d %q %v", code, body, err)
		}
		if events, _ := h.m.Events(ctx, "pr-1", 0); !hasKind(events, "asleep") || !hasKind(events, "awake") {
			t.Errorf("events: %v", events)
		}
	})

	t.Run("the caches keep what previews use, and evict the rest", func(t *testing.T) {
		q, err := h.m.Create(ctx, CreateRequest{Name: "pr-2", Repo: "shop", Ref: "feature"})
		if err != nil {
			t.Fatal(err)
		}
		q = h.await("pr-2", q.Generation, tandem.PreviewReady)
		eventually(t, "pr-1 to sleep again", time.Minute, asleep)
		list, err := h.m.Caches().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// Each preview's build and snapshot, each used by it alone, and
		// nothing else: the limit of 1 byte evicted whatever no one uses.
		byUser := map[string][]string{}
		for _, e := range list {
			if len(e.Users) != 1 || e.Size <= 0 {
				t.Errorf("entry %+v", e)
				continue
			}
			byUser[e.Users[0]] = append(byUser[e.Users[0]], e.Kind)
		}
		if fmt.Sprint(byUser) != "map[pr-1:[build snapshot] pr-2:[build snapshot]]" && fmt.Sprint(byUser) != "map[pr-1:[snapshot build] pr-2:[snapshot build]]" &&
			fmt.Sprint(byUser) != "map[pr-1:[build snapshot] pr-2:[snapshot build]]" && fmt.Sprint(byUser) != "map[pr-1:[snapshot build] pr-2:[build snapshot]]" {
			t.Errorf("entries by user: %v", byUser)
		}
		if err := h.m.Destroy(ctx, "pr-2"); err != nil {
			t.Fatal(err)
		}
		removed, err := h.m.Caches().Prune(ctx, 1, nil)
		if err != nil || len(removed) != 2 {
			t.Fatalf("pruned %v %v", removed, err)
		}
		for _, e := range removed {
			if e.Name == "" || (e.Kind == "snapshot" && e.Name != q.Binding.SnapshotKey) {
				t.Errorf("evicted %+v, not pr-2's", e)
			}
		}
		left, _ := h.m.Caches().List(ctx)
		if len(left) != 2 || left[0].Users[0] != "pr-1" || left[1].Users[0] != "pr-1" {
			t.Errorf("left: %+v", left)
		}
		// The sleeping preview still wakes, and a preview of pr-2's commit
		// is made again from scratch.
		if err := in.Wake(ctx); err != nil {
			t.Fatal(err)
		}
		if code, body, _ := h.get(host); code != 200 || !strings.Contains(body, "written before it slept") {
			t.Errorf("pr-1: %d %q", code, body)
		}
		again, err := h.m.Create(ctx, CreateRequest{Name: "pr-3", Repo: "shop", Ref: "feature"})
		if err != nil {
			t.Fatal(err)
		}
		h.await("pr-3", again.Generation, tandem.PreviewReady)
		if code, body, _ := h.get("pr-3.previews.example.com"); code != 200 || !strings.Contains(body, "first,second") {
			t.Errorf("pr-3: %d %q", code, body)
		}
	})

	t.Run("a restarted server keeps it asleep, and it wakes", func(t *testing.T) {
		eventually(t, "pr-1 to sleep again", time.Minute, asleep)
		h.close()
		h = newHarness(t, data, src, func(o *Options) { opts(o); o.SleepAfter = time.Hour })
		if err := asleep(); err != "" {
			t.Fatal(err)
		}
		in := h.routed(host)
		if in == nil || in.Awake() || in.Supervisor() != nil {
			t.Fatalf("after the restart: %+v", in)
		}
		if err := in.Wake(ctx); err != nil {
			t.Fatal(err)
		}
		if code, body, err := h.get(host); code != 200 || !strings.Contains(body, "first,written before it slept") {
			t.Errorf("woken after the restart: %d %q %v", code, body, err)
		}
		if q, _ := h.m.Get(ctx, "pr-1"); q.Asleep || h.m.Instance("pr-1") == nil {
			t.Error("still shown asleep")
		}
	})
}

func hasKind(events []tandem.Event, kind string) bool {
	for _, e := range events {
		if e.Kind == kind {
			return true
		}
	}
	return false
}
