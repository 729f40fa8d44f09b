//go:build linux

package process

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/tandem-dev/tandem"
)

// Every instance runs as a user of its own, from this range: above the
// accounts people and packages have, clear of the 65534 overflow ids. An id
// that /etc/passwd, /etc/group, /etc/subuid or /etc/subgid names is
// skipped, so no account and no rootless container of the machine's users
// ever shares one with an instance.
const (
	uidBase  = 200000
	uidCount = 65536
)

// uidRegistry is where allocated ids are recorded, one file per id naming
// the data directory it belongs to ("" for a build's, which lasts one
// run). It is machine-wide, since ids are, and so is its lock: one tandem up
// and one tandem serve never hand out the same id.
var uidRegistry = "/var/lib/tandem/uids"

// uidFile is where an instance's data directory records its id, so the
// instance keeps it across restarts of tandem (its files are owned by it).
const uidFile = "uid"

// identity is an allocated id, held (flock) while something runs as it.
type identity struct {
	id   int // uid and gid alike
	lock *os.File
}

// release lets the id go: an instance's stays recorded for its data
// directory, a transient one is freed.
func (i *identity) release(transient bool) {
	if i == nil || i.lock == nil {
		return
	}
	if transient {
		os.Remove(i.lock.Name())
	}
	i.lock.Close()
	i.lock = nil
}

// instanceID returns the id recorded for the data directory dir, or
// allocates one and records it. ECONFLICT if another sandbox holds it now.
func instanceID(dir string) (*identity, error) {
	return allocate(dir)
}

// transientID allocates an id for one run (a build).
func transientID() (*identity, error) { return allocate("") }

func allocate(dir string) (*identity, error) {
	if err := os.MkdirAll(uidRegistry, 0o700); err != nil {
		return nil, fmt.Errorf("uid registry: %w", err)
	}
	all, err := os.OpenFile(filepath.Join(uidRegistry, ".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("uid registry: %w", err)
	}
	defer all.Close()
	if err := unix.Flock(int(all.Fd()), unix.LOCK_EX); err != nil {
		return nil, fmt.Errorf("uid registry: %w", err)
	}
	taken := systemIDs()
	if dir != "" {
		if id, ok := recordedID(dir); ok && !taken[id] {
			if owner, err := os.ReadFile(entryPath(id)); err != nil || string(owner) == dir || !ownsID(string(owner), id) {
				return claim(id, dir)
			}
			// A copy of another instance's data directory: it gets an id
			// of its own (and NewSandbox gives it the files).
		}
	}
	for id := uidBase; id < uidBase+uidCount; id++ {
		if taken[id] {
			continue
		}
		owner, err := os.ReadFile(entryPath(id))
		if err == nil && (string(owner) != "" && ownsID(string(owner), id) || held(id)) {
			continue // in use, or its instance's data still exists
		}
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return claim(id, dir)
	}
	return nil, tandem.Errorf(tandem.EUNAVAILABLE, "no free user id left in %d-%d for another instance", uidBase, uidBase+uidCount-1)
}

func entryPath(id int) string { return filepath.Join(uidRegistry, strconv.Itoa(id)) }

// claim records id for dir and locks it, under the registry's lock.
func claim(id int, dir string) (*identity, error) {
	f, err := os.OpenFile(entryPath(id), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, tandem.Errorf(tandem.ECONFLICT, "the instance with data directory %s runs already (its user %d is in use)", dir, id)
	}
	if err := f.Truncate(0); err == nil {
		_, err = f.WriteAt([]byte(dir), 0)
	}
	if err == nil && dir != "" {
		err = os.WriteFile(filepath.Join(dir, uidFile), []byte(strconv.Itoa(id)+"\n"), 0o600)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return &identity{id: id, lock: f}, nil
}

// recordedID is the id dir's data says it was given.
func recordedID(dir string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, uidFile))
	if err != nil {
		return 0, false
	}
	id, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return id, err == nil && id >= uidBase && id < uidBase+uidCount
}

// ownsID reports whether the data directory dir still exists and still
// records id: else the id is free again (its instance was destroyed).
func ownsID(dir string, id int) bool {
	got, ok := recordedID(dir)
	return ok && got == id
}

// held reports whether something runs as id now.
func held(id int) bool {
	f, err := os.Open(entryPath(id))
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return true
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}

// systemIDs are the ids in our range that the machine's accounts use.
func systemIDs() map[int]bool {
	taken := map[int]bool{}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		eachLine(f, func(fields []string) {
			if len(fields) > 2 {
				if n, err := strconv.Atoi(fields[2]); err == nil {
					taken[n] = true
				}
			}
		})
	}
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		eachLine(f, func(fields []string) {
			if len(fields) < 3 {
				return
			}
			start, err1 := strconv.Atoi(fields[1])
			n, err2 := strconv.Atoi(fields[2])
			if err1 != nil || err2 != nil {
				return
			}
			for id := max(start, uidBase); id < start+n && id < uidBase+uidCount; id++ {
				taken[id] = true
			}
		})
	}
	return taken
}

func eachLine(name string, f func(fields []string)) {
	file, err := os.Open(name)
	if err != nil {
		return
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		if l := sc.Text(); l != "" && !strings.HasPrefix(l, "#") {
			f(strings.Split(l, ":"))
		}
	}
}
