package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
	"github.com/tandem-dev/tandem/internal/fsutil"
	"github.com/tandem-dev/tandem/process"
)

// BenchmarkPreviews is make bench-previews: previews of the example stack
// under a real tandem serve, from create to ready, cold and warm and the
// seed article's way; the database from a snapshot against migrate + seed;
// and how many previews are ready at once, with the memory of each. Run it
// once: -benchtime 1x.
func BenchmarkPreviews(b *testing.B) {
	needRoot(b)
	for range b.N {
		benchPreviews(b)
	}
}

func benchPreviews(b *testing.B) {
	repo := exampleRepo(b)
	naiveBranch(b, repo)
	s := newColdServer(b, repo)
	out := &strings.Builder{}
	say := func(format string, args ...any) {
		fmt.Fprintf(out, format+"\n", args...)
		fmt.Printf(format+"\n", args...)
	}
	say("previews benchmark, %s, %s", time.Now().Format("2006-01-02"), machine())

	create := func(name, ref string) time.Duration {
		began := time.Now()
		if code, text := s.cli("create", name, "--repo", "shop", "--ref", ref); code != 0 {
			b.Fatalf("create %s: %d\n%s", name, code, text)
		}
		return time.Since(began)
	}
	cold := create("cold", "main")
	say("create cold (no build cache, no snapshot): %.1f s", cold.Seconds())
	warm := create("warm", "main")
	say("create warm (build cached, database from the snapshot): %.1f s", warm.Seconds())
	naive := create("naive", "naive")
	say("create naive (build cached; the entrypoint migrates and seeds on start): %.1f s", naive.Seconds())

	restore, copyOnly, seeded, seedOnly := databaseTimes(b, s, repo)
	say("database ready from the snapshot: %.2f s (the copy alone %.3f s)", restore.Seconds(), copyOnly.Seconds())
	say("database ready by initdb + migrate + seed: %.2f s (migrate + seed alone %.2f s)", seeded.Seconds(), seedOnly.Seconds())

	ready, rss := capacity(b, s, 20)
	say("previews ready at once: %d; RSS per preview: %s", ready, rss)
	sw := benchSleep(b, s, say)

	say("")
	line := func(name string, v float64, target string, ok bool) {
		verdict := "met"
		if !ok {
			verdict = "MISSED"
		}
		say("%s: %.2f  target %s  %s", name, v, target, verdict)
	}
	line("warm create s", warm.Seconds(), "<= 5", warm <= 5*time.Second)
	line("naive/warm create", naive.Seconds()/warm.Seconds(), "none (the seed article's way against tandem's)", true)
	line("migrate+seed/snapshot copy", seedOnly.Seconds()/copyOnly.Seconds(), ">= 10", seedOnly >= 10*copyOnly)
	line("initdb+migrate+seed/snapshot, to a ready database", seeded.Seconds()/restore.Seconds(), ">= 10", seeded >= 10*restore)
	line("previews ready at once", float64(ready), ">= 20", ready >= 20)
	sw.lines(line)
	b.ReportMetric(warm.Seconds(), "warm-create-s")
	b.ReportMetric(cold.Seconds(), "cold-create-s")
	os.WriteFile(filepath.Join(repoRoot(b), "bench", ".previews-report.txt"), []byte(out.String()), 0o644)
}

// BenchmarkSleepWake is the sleep part of BenchmarkPreviews alone, on a
// server of its own: wake to first byte, and how many previews sleep at
// once with tandem's own memory (TANDEM_BENCH_SLEEPING of them, default
// 500). Run it once: -benchtime 1x.
func BenchmarkSleepWake(b *testing.B) {
	needRoot(b)
	for range b.N {
		s := newServer(b, exampleRepo(b))
		say := func(format string, args ...any) { fmt.Printf(format+"\n", args...) }
		say("sleep and wake benchmark, %s, %s", time.Now().Format("2006-01-02"), machine())
		began := time.Now()
		if code, text := s.cli("create", "first", "--repo", "napping", "--ref", "main"); code != 0 {
			b.Fatalf("create: %d\n%s", code, text)
		}
		say("create cold: %.1f s", time.Since(began).Seconds())
		benchSleep(b, s, say).lines(func(name string, v float64, target string, ok bool) {
			verdict := "met"
			if !ok {
				verdict = "MISSED"
			}
			say("%s: %.2f  target %s  %s", name, v, target, verdict)
		})
	}
}

type sleepResults struct {
	wake     time.Duration // median wake to first byte
	asleep   int           // previews asleep at once
	want     int           // previews made to sleep (TANDEM_BENCH_SLEEPING)
	rss, max int64         // tandem's VmRSS then, and its peak, MiB
	awake    int           // of those, woken and awake at once
	beside   int           // asleep while they are
}

func (r sleepResults) lines(line func(string, float64, string, bool)) {
	line("wake to first byte s", r.wake.Seconds(), "<= 1.5", r.wake <= 1500*time.Millisecond)
	line("sleeping previews", float64(r.beside), ">= 500, beside those awake", r.beside >= 500)
	line("previews awake at once beside the sleeping", float64(r.awake), ">= 20", r.awake >= awakeAtOnce)
	line("tandem RSS MiB", float64(r.rss), "none (tandem's own, with the sleeping previews)", true)
}

// benchSleep measures, on previews of the napping repository (sleep_after:
// 2s), wake to first byte of / for a held request, median of 3; then makes
// previews until TANDEM_BENCH_SLEEPING (default 500) and 20 more sleep at
// once, reads tandem's own memory, and wakes the 20 together.
func benchSleep(b testing.TB, s *server, say func(string, ...any)) sleepResults {
	var r sleepResults
	r.want = 500
	if n, err := strconv.Atoi(os.Getenv("TANDEM_BENCH_SLEEPING")); err == nil && n > 0 {
		r.want = n
	}
	if code, text := s.cli("create", "wake", "--repo", "napping", "--ref", "main"); code != 0 {
		b.Fatalf("create wake: %d\n%s", code, text)
	}
	var times []time.Duration
	for range 3 {
		waitAsleep(b, s, []string{"wake"}, time.Minute)
		began := time.Now()
		// Not a browser: held until the preview answers, and asked
		// again should the hold end first.
		for {
			resp := s.get("wake", "/", map[string]string{"Accept": "*/*"})
			if resp.status == 200 && strings.Contains(resp.body, "One Origin for Two Servers") {
				break
			}
			if resp.status != 503 || time.Since(began) > 5*time.Minute {
				b.Fatalf("wake: %d %.200s", resp.status, resp.body)
			}
		}
		times = append(times, time.Since(began))
	}
	slices.Sort(times)
	r.wake = times[1]
	say("wake to first byte of / (a held request, the preview asleep): median %.2f s of %v", r.wake.Seconds(), times)

	began := time.Now()
	names := []string{"wake"}
	// As many more as are woken at the end, so that want stay asleep
	// beside those awake.
	for i := 1; len(names) < r.want+awakeAtOnce; i++ {
		name := fmt.Sprintf("nap-%d", i)
		if code, text := s.cli("create", name, "--repo", "napping", "--ref", "main", "--detach"); code != 0 {
			b.Fatalf("create %s: %d %s", name, code, text)
		}
		names = append(names, name)
	}
	r.asleep = waitAsleep(b, s, names, 3*time.Hour)
	r.rss, r.max = procRSS(s.proc.cmd.Process.Pid)
	say("previews asleep at once: %d (made in %s); tandem's RSS %d MiB (peak %d MiB), %s MiB of memory available",
		r.asleep, time.Since(began).Round(time.Second), r.rss, r.max, memInfo("MemAvailable"))

	woken := names[len(names)-awakeAtOnce:]
	began = time.Now()
	r.awake, r.beside = wakeAtOnce(b, s, woken, func() {
		say("%d woken at once answered in %s; %s MiB of memory available", len(woken), time.Since(began).Round(time.Second), memInfo("MemAvailable"))
	})
	say("previews awake at once: %d of the %d woken, with %d asleep", r.awake, len(woken), r.beside)
	return r
}

// awakeAtOnce is how many previews the machine must hold awake beside the
// sleeping ones.
const awakeAtOnce = 20

// wakeAtOnce wakes names together by requests that are held until each
// answers /, keeps every one of them busy until all have answered, then
// calls then and returns how many of them are awake at that moment, and how
// many previews are asleep.
func wakeAtOnce(b testing.TB, s *server, names []string, then func()) (awake, asleep int) {
	began := time.Now()
	var answered sync.WaitGroup
	stop := make(chan struct{})
	var kept sync.WaitGroup
	for _, name := range names {
		answered.Add(1)
		kept.Add(1)
		go func() {
			defer kept.Done()
			for {
				resp := s.get(name, "/", map[string]string{"Accept": "*/*"})
				if resp.status == 200 && strings.Contains(resp.body, "One Origin for Two Servers") {
					break
				}
				// Held for 30 s at most, as this client waits (and its
				// timeout may cut the page that came late): ask again.
				held := resp.status == 503 || resp.status == 0 && strings.Contains(resp.body, "Client.Timeout") ||
					resp.status == 200 && resp.body == ""
				if !held || time.Since(began) > 15*time.Minute {
					b.Errorf("waking %s: %d %.200s", name, resp.status, resp.body)
					break
				}
			}
			answered.Done()
			// Busy, so that sleep_after does not put it back to sleep
			// while the others wake.
			for {
				select {
				case <-stop:
					return
				case <-time.After(500 * time.Millisecond):
					s.get(name, "/api/articles/", nil)
				}
			}
		}()
	}
	answered.Wait()
	then()
	for _, p := range previewList(b, s) {
		switch {
		case p.Asleep:
			asleep++
		case slices.Contains(names, p.Name) && p.State == string(tandem.PreviewReady):
			awake++
		}
	}
	close(stop)
	kept.Wait()
	return awake, asleep
}

// waitAsleep waits until every one of names is ready and asleep, or until
// limit, and returns how many are.
func waitAsleep(b testing.TB, s *server, names []string, limit time.Duration) int {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	deadline := time.Now().Add(limit)
	for {
		asleep := 0
		for _, p := range previewList(b, s) {
			if !want[p.Name] {
				continue
			}
			if p.State == string(tandem.PreviewFailed) {
				b.Fatalf("%s failed at %s", p.Name, p.Step)
			}
			if p.Asleep {
				asleep++
			}
		}
		if asleep == len(names) || time.Now().After(deadline) {
			return asleep
		}
		time.Sleep(500 * time.Millisecond)
	}
}

type listed struct {
	Name   string `json:"name"`
	State  string `json:"state"`
	Step   string `json:"step"`
	Asleep bool   `json:"asleep"`
}

// previewList is what tandem preview list --json says.
func previewList(b testing.TB, s *server) []listed {
	code, out := s.cli("list", "--json")
	var list []listed
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		b.Fatalf("list: %d %v %.300s", code, err, out)
	}
	return list
}

// procRSS is a process's VmRSS and VmHWM, in MiB.
func procRSS(pid int) (rss, peak int64) {
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(status), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = kb >> 10
		case "VmHWM:":
			peak = kb >> 10
		}
	}
	return rss, peak
}

func machine() string {
	cores := strings.Count(string(must(os.ReadFile("/proc/cpuinfo"))), "processor\t:")
	load, _ := os.ReadFile("/proc/loadavg")
	return fmt.Sprintf("%d cores, %s MiB of memory, load average %s", cores, memInfo("MemTotal"), strings.Join(strings.Fields(string(load))[:3], " "))
}

func must(b []byte, _ error) []byte { return b }

func memInfo(key string) string {
	sc := bufio.NewScanner(bytes.NewReader(must(os.ReadFile("/proc/meminfo"))))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 2 && f[0] == key+":" {
			kb, _ := strconv.Atoi(f[1])
			return strconv.Itoa(kb >> 10)
		}
	}
	return "?"
}

// naiveBranch makes a branch of the example whose api declares no
// x-tandem.seed: its entrypoint migrates and seeds every start, as the seed
// article's does.
func naiveBranch(b testing.TB, repo string) {
	file := filepath.Join(repo, "docker-compose.yml")
	text := string(must(os.ReadFile(file)))
	i := strings.Index(text, "    x-tandem:\n      # Previews start from a snapshot")
	j := strings.Index(text, "      seed: [bin/manage migrate --noinput, bin/manage seed_demo_data]\n")
	if i < 0 || j < 0 {
		b.Fatal("the example's compose file has no x-tandem.seed to remove")
	}
	git := func(args ...string) { gitIn(b, repo, args...) }
	git("checkout", "-q", "-b", "naive")
	os.WriteFile(file, []byte(text[:i]+text[j+len("      seed: [bin/manage migrate --noinput, bin/manage seed_demo_data]\n"):]), 0o644)
	git("commit", "-q", "-am", "seed in the entrypoint")
	git("checkout", "-q", "main")
}

// databaseTimes measures, on the runtime directly, the example's database
// made ready from the server's snapshot against made ready by initdb,
// migrate and seed: medians of three.
func databaseTimes(b testing.TB, s *server, repo string) (restore, copyOnly, seeded, seedOnly time.Duration) {
	snaps, _ := filepath.Glob(filepath.Join(s.dir, "data", "cache", "snapshots", "process", "pg-*"))
	if len(snaps) != 1 {
		b.Fatalf("snapshots: %v", snaps)
	}
	st, err := compose.Load(context.Background(), compose.Options{Files: []string{filepath.Join(repo, "docker-compose.yml")}, Vars: tandem.LocalVars(":8080")})
	if err != nil {
		b.Fatal(err)
	}
	db, api := st.Service("db"), st.Service("api")
	rt := &process.Runtime{SnapshotDir: filepath.Dir(snaps[0])}
	names := []string{"db", "api", "web"}
	ready := func(sb tandem.Sandbox) {
		for deadline := time.Now().Add(time.Minute); sb.Exec(context.Background(), db, []string{"pg_isready", "-q", "-U", "postgres", "-d", "app"}, io.Discard, io.Discard) != nil; time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("database not ready")
			}
		}
	}
	median := func(ds []time.Duration) time.Duration { slices.Sort(ds); return ds[len(ds)/2] }
	var r, c, sd, so []time.Duration
	for range 3 {
		// From the snapshot.
		dir := b.TempDir()
		began := time.Now()
		if err := fsutil.CopyTree(snaps[0], filepath.Join(dir, "copy"), fsutil.Options{}); err != nil {
			b.Fatal(err)
		}
		c = append(c, time.Since(began))
		sb, err := rt.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "bench-restore", Services: names, DataDir: filepath.Join(dir, "data"), Restore: map[string]string{"db": filepath.Base(snaps[0])}})
		if err != nil {
			b.Fatal(err)
		}
		began = time.Now()
		p, err := sb.Start(context.Background(), db, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		ready(sb)
		r = append(r, time.Since(began))
		p.Stop(context.Background(), time.Minute) // the image's stop signal, SIGINT
		sb.Close()

		// By migrate and seed, as an entrypoint would.
		dir = b.TempDir()
		sb, err = rt.NewSandbox(context.Background(), tandem.SandboxSpec{Name: "bench-seed", Services: names, DataDir: filepath.Join(dir, "data")})
		if err != nil {
			b.Fatal(err)
		}
		began = time.Now()
		p, err = sb.Start(context.Background(), db, io.Discard, io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		ready(sb)
		mid := time.Now()
		for _, c := range api.Seed {
			var o bytes.Buffer
			if err := sb.Exec(context.Background(), api, []string{"/bin/sh", "-c", c}, &o, &o); err != nil {
				b.Fatalf("%s: %v\n%s", c, err, o.String())
			}
		}
		sd = append(sd, time.Since(began))
		so = append(so, time.Since(mid))
		p.Stop(context.Background(), time.Minute) // the image's stop signal, SIGINT
		sb.Close()
	}
	return median(r), median(c), median(sd), median(so)
}

// capacity creates previews of main until want are ready at once (counting
// those already there), checks each answers, and measures the memory of
// each instance: the RSS of the processes in its network namespace.
func capacity(b testing.TB, s *server, want int) (int, string) {
	var names []string
	for _, n := range []string{"cold", "warm", "naive"} {
		names = append(names, n)
	}
	for i := 1; len(names) < want; i++ {
		name := fmt.Sprintf("cap-%d", i)
		if code, text := s.cli("create", name, "--repo", "shop", "--ref", "main", "--detach"); code != 0 {
			b.Fatalf("create %s: %d %s", name, code, text)
		}
		names = append(names, name)
	}
	deadline := time.Now().Add(20 * time.Minute)
	for {
		pending := 0
		for _, n := range names {
			switch st := s.state(n); st {
			case "ready ":
			case "failed build web", "failed start", "failed seed":
				b.Fatalf("%s: %s", n, st)
			default:
				pending++
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d previews not ready after 20 minutes", pending)
		}
		time.Sleep(2 * time.Second)
	}
	ready := 0
	for _, n := range names {
		if r := s.get(n, "/", nil); r.status == 200 && strings.Contains(r.body, "One Origin for Two Servers") {
			if r := s.get(n, "/api/articles/", nil); r.status == 200 {
				ready++
			}
		}
	}
	// The memory of each instance: its network namespace's processes.
	own, _ := os.Readlink("/proc/self/ns/net")
	byNS := map[string]int64{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil || ns == own {
			continue
		}
		status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				byNS[ns] += kb
			}
		}
	}
	var sizes []int64
	var total int64
	for _, kb := range byNS {
		sizes = append(sizes, kb>>10)
		total += kb
	}
	slices.Sort(sizes)
	if len(sizes) == 0 {
		return ready, "unknown"
	}
	return ready, fmt.Sprintf("median %d MiB, largest %d MiB, %d instances %d MiB in all, %s MiB of memory still available",
		sizes[len(sizes)/2], sizes[len(sizes)-1], len(sizes), total>>10, memInfo("MemAvailable"))
}
