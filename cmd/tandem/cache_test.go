package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tandem cache ls lists the caches least recently used first, with who
// uses each; prune evicts down to the limit and never what a preview's
// generation records using, however low the limit.
func TestCacheLsPrune(t *testing.T) {
	dir := t.TempDir()
	config := filepath.Join(dir, "tandem.yaml")
	writeFile(t, config, "data: data\ndomain: p.example.com\ncache: {max_size: 1200k}\n"+repos)
	data := filepath.Join(dir, "data")
	const snapKey, snapID = "0123456789abcdef0123456789abcdef", "pg-00112233445566778899aabbccddeeff"
	entry := func(path string, size int, age time.Duration) {
		writeFile(t, filepath.Join(data, path, "f"), strings.Repeat("x", size))
		when := time.Now().Add(-age)
		os.Chtimes(filepath.Join(data, path), when, when)
	}
	entry("cache/builds/out/web-old", 600<<10, 3*time.Hour)    // used by pr-1: kept
	entry("cache/builds/deps/web-older", 600<<10, 4*time.Hour) // the oldest: evicted first
	entry("cache/builds/out/web-new", 300<<10, time.Hour)
	entry("cache/snapshots/process/"+snapID, 200<<10, 0)
	writeFile(t, filepath.Join(data, "cache/snapshots", snapKey, "process.json"), `{"db":"`+snapID+`"}`)
	when := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Join(data, "cache/snapshots", snapKey), when, when)
	writeFile(t, filepath.Join(data, "previews/pr-1/1/cache-uses"), "build web-old\nsnapshot "+snapKey+"\n")

	code, out := run(t, "cache", "ls", "--config", config, "--json")
	var list []struct {
		Kind, Name string
		Size       int64
		Users      []string
	}
	if err := json.Unmarshal([]byte(out), &list); code != 0 || err != nil {
		t.Fatalf("ls: %d %v %s", code, err, out)
	}
	var got []string
	for _, e := range list {
		got = append(got, fmt.Sprintf("%s %s %v", e.Kind, e.Name, e.Users))
		if e.Size < 200<<10 {
			t.Errorf("%s %s weighs %d", e.Kind, e.Name, e.Size)
		}
	}
	want := "[deps web-older [] build web-old [pr-1] snapshot " + snapKey + " [pr-1] build web-new []]"
	if fmt.Sprint(got) != want {
		t.Errorf("ls:\n%v\nwant\n%s", got, want)
	}
	if code, out := run(t, "cache", "ls", "--config", config); code != 0 || !strings.Contains(out, "4 entries") || !strings.Contains(out, "cache.max_size 1.2 MiB") {
		t.Errorf("ls: %d %s", code, out)
	}

	// Past 1200 KiB: the oldest goes, and that is enough.
	if code, out := run(t, "cache", "prune", "--config", config); code != 0 || !strings.Contains(out, "evicted deps web-older") || !strings.Contains(out, "1 evicted") {
		t.Errorf("prune: %d %s", code, out)
	}
	// Down to nothing: all but what pr-1 uses.
	if code, out := run(t, "cache", "prune", "--config", config, "--max-size", "0"); code != 0 || !strings.Contains(out, "evicted build web-new") || !strings.Contains(out, "1 evicted") {
		t.Errorf("prune --max-size 0: %d %s", code, out)
	}
	for _, p := range []string{"cache/builds/out/web-old/f", "cache/snapshots/" + snapKey + "/process.json", "cache/snapshots/process/" + snapID + "/f"} {
		if _, err := os.Stat(filepath.Join(data, p)); err != nil {
			t.Errorf("what pr-1 uses: %v", err)
		}
	}
	for _, p := range []string{"cache/builds/deps/web-older", "cache/builds/out/web-new"} {
		if _, err := os.Stat(filepath.Join(data, p)); !os.IsNotExist(err) {
			t.Errorf("%s stays: %v", p, err)
		}
	}

	// Once pr-1 is gone, its entries go too, the snapshot's data with them.
	os.RemoveAll(filepath.Join(data, "previews/pr-1"))
	if code, out := run(t, "cache", "prune", "--config", config, "--max-size", "0"); code != 0 || !strings.Contains(out, "2 evicted") {
		t.Errorf("prune after pr-1: %d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(data, "cache/snapshots/process", snapID)); !os.IsNotExist(err) {
		t.Errorf("the snapshot's data stays: %v", err)
	}
}
