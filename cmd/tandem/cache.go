package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/build"
	"github.com/tandem-dev/tandem/docker"
	"github.com/tandem-dev/tandem/internal/snapshots"
	"github.com/tandem-dev/tandem/mixed"
	"github.com/tandem-dev/tandem/preview"
	"github.com/tandem-dev/tandem/process"
	"github.com/tandem-dev/tandem/seed"
)

// cacheConfig is tandem.yaml's cache: how much the caches may hold.
type cacheConfig struct {
	MaxSize string `yaml:"max_size"` // as Compose writes sizes: 20g, 500m; 0: no limit
	limit   int64
}

// defaultCacheLimit bounds the caches when tandem.yaml does not say.
const defaultCacheLimit = 20 << 30

// checkCache reads cache.max_size.
func (c *serveConfig) checkCache(fail failFunc) {
	if c.Cache == nil {
		c.Cache = &cacheConfig{limit: defaultCacheLimit}
		return
	}
	c.Cache.limit = defaultCacheLimit
	if s := c.Cache.MaxSize; s != "" {
		var b types.UnitBytes
		if err := b.DecodeMapstructure(s); err != nil || b < 0 {
			fail(c.line("cache", "max_size"), "cache: max_size %q is not a size, like 20g or 500m (0: no limit)", s)
			return
		}
		c.Cache.limit = int64(b)
	}
}

// caches are the caches of the server's data directory, as tandem serve
// keeps them (newManager), with the runtime it ran last: its snapshots
// are the ones listed, and it removes them (docker's dk-…, the process
// runtime's pg-…).
func (c *serveConfig) caches() *preview.Caches {
	snaps := snapshotStore(c)
	var rt tandem.Runtime = &process.Runtime{SnapshotDir: snaps}
	switch servedRuntime(c) {
	case runtimeDocker:
		rt = &docker.Runtime{SnapshotDir: snaps}
	case runtimeKubernetes:
		if k, err := kubeRuntime(snaps, nil); err == nil {
			rt = k
		}
	case "mixed":
		rt = mixed.New(rt.(*process.Runtime), &docker.Runtime{SnapshotDir: snaps})
	}
	return &preview.Caches{
		DataDir:      c.Data,
		Builds:       &build.Cache{Dir: filepath.Join(c.Data, "cache", "builds")},
		Snapshots:    &seed.Snapshots{Dir: filepath.Join(c.Data, "cache", "snapshots"), Runtime: rt},
		SnapshotPath: snapshotPath(snaps),
	}
}

// runtimeRecord is where tandem serve writes the name of the runtime it
// picked, which under auto depends on the machine at the time.
func runtimeRecord(c *serveConfig) string { return filepath.Join(c.Data, "runtime") }

// recordRuntime notes that tandem serve runs previews on rt.
func recordRuntime(c *serveConfig, rt tandem.Runtime) error {
	return os.WriteFile(runtimeRecord(c), []byte(rt.Name()+"\n"), 0o600)
}

// servedRuntime is the runtime tandem serve ran last: the record, or, for a
// data directory without one, the one it would pick and, under auto, the
// process runtime, the only one older servers had.
func servedRuntime(c *serveConfig) string {
	if c.Runtime != runtimeAuto && c.Runtime != "" {
		return c.Runtime
	}
	b, _ := os.ReadFile(runtimeRecord(c))
	switch name := strings.TrimSpace(string(b)); name {
	case runtimeProcess, runtimeDocker, runtimeKubernetes, "mixed":
		return name
	}
	return runtimeProcess
}

// snapshotStore is where the runtimes keep tandem serve's database
// snapshots. (Named for the first runtime; the docker runtime's ids never
// meet the process runtime's.)
func snapshotStore(c *serveConfig) string {
	return filepath.Join(c.Data, "cache", "snapshots", "process")
}

// snapshotPath is where a runtime, keeping snapshots in dir, keeps
// snapshot id: a name of its making, never a path.
func snapshotPath(dir string) func(string) string {
	return func(id string) string { return snapshots.PathIn(dir, id) }
}

func newCacheCmd(stdout io.Writer) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "cache ls|prune",
		Short: "List or prune tandem serve's caches: build outputs, dependency folders, database snapshots",
		Long: `tandem serve keeps what builds made (by their inputs), dependency folders (by
lockfile) and seeded database snapshots (by migrations and seed code) in its data
directory, and evicts the least recently used past cache.max_size. Nothing a
preview uses is ever evicted: its instance, awake or asleep, or one being made.
Run as the server's user (it reads the data directory). See docs/serve.md.`,
	}
	cmd.PersistentFlags().StringVarP(&file, "config", "c", "tandem.yaml", "the server's configuration file")
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List what the caches keep, least recently used first",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readServeConfig(file)
			if err != nil {
				return err
			}
			list, err := cfg.caches().List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if list == nil {
					list = []preview.CacheEntry{}
				}
				return json.NewEncoder(stdout).Encode(list)
			}
			return printCaches(stdout, list, cfg.Cache.limit)
		},
	}
	ls.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var maxSize string
	prune := &cobra.Command{
		Use:   "prune [--max-size SIZE]",
		Short: "Evict the least recently used entries past cache.max_size (or --max-size; 0 evicts all it may)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := readServeConfig(file)
			if err != nil {
				return err
			}
			limit := cfg.Cache.limit
			if cmd.Flags().Changed("max-size") {
				var b types.UnitBytes
				if err := b.DecodeMapstructure(maxSize); err != nil || b < 0 {
					return fmt.Errorf("--max-size %q is not a size, like 20g or 500m", maxSize)
				}
				limit = int64(b)
			}
			removed, err := cfg.caches().Prune(cmd.Context(), limit, nil)
			var freed int64
			for _, e := range removed {
				freed += e.Size
				fmt.Fprintf(stdout, "evicted %s %s (%s, last used %s)\n", e.Kind, e.Name, humanBytes(e.Size), e.Used.Format(time.RFC3339))
			}
			fmt.Fprintf(stdout, "%d evicted, %s freed\n", len(removed), humanBytes(freed))
			return err
		},
	}
	prune.Flags().StringVar(&maxSize, "max-size", "", "prune down to this size instead of cache.max_size")
	cmd.AddCommand(ls, prune)
	return cmd
}

func printCaches(w io.Writer, list []preview.CacheEntry, limit int64) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "KIND\tNAME\tSIZE\tLAST USED\tUSED BY")
	var total int64
	for _, e := range list {
		total += e.Size
		users := "-"
		if len(e.Users) > 0 {
			users = strings.Join(e.Users, ",")
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", e.Kind, e.Name, humanBytes(e.Size), e.Used.Format(time.RFC3339), users)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	max := "no limit"
	if limit > 0 {
		max = humanBytes(limit)
	}
	_, err := fmt.Fprintf(w, "%d entries, %s (cache.max_size %s)\n", len(list), humanBytes(total), max)
	return err
}

// humanBytes is n in binary units, as df -h says it.
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}
