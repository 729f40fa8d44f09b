package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/sqlite"
)

func newAuditCmd(stdout, stderr io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Export the review log as a bundle, and verify a bundle offline",
		Long: `tandem serve keeps a transparency log of what happened to previews and their
reviews: each entry a DSSE-signed in-toto statement bound to the commit, stack
file and build digests that ran; a Merkle tree over them with signed
checkpoints, published at /v1/audit/checkpoint with the key at /v1/audit/key.

"tandem audit export" writes a bundle of entries with their proofs, evidence,
an OSCAL assessment-results document and an HTML report; "tandem audit verify"
checks one without the server. See docs/review.md.`,
	}
	cmd.AddCommand(newAuditExportCmd(stdout, stderr), newAuditVerifyCmd(stdout))
	return cmd
}

// openAuditLog opens the audit log kept in tandem serve's state database,
// signed with the key in DATA/audit, which the first start makes and names
// after the previews' domain.
func openAuditLog(ctx context.Context, data, domain string, store *sqlite.DB) (*audit.Log, error) {
	key, err := audit.EnsureKey(data, domain+"/audit")
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return audit.Open(ctx, store, key)
}

// auditData finds tandem serve's data directory: --data, the one --config
// names, or the default.
func auditData(data, config string) (string, error) {
	switch {
	case data != "":
		return data, nil
	case config != "":
		cfg, err := readServeConfig(config)
		if err != nil {
			return "", err
		}
		return cfg.Data, nil
	}
	return "/var/lib/tandem", nil
}

func newAuditExportCmd(stdout, stderr io.Writer) *cobra.Command {
	var data, config, since, out string
	var opts audit.ExportOptions
	var earlier []string
	cmd := &cobra.Command{
		Use:   "export [--preview NAME | --repo REPO] [--since DATE] [-o BUNDLE]",
		Short: "Write a bundle of the log's entries, offline, from the server's data directory",
		Long: `Write a bundle of the entries of one preview (--preview), of one repository
(--repo), or of everything, optionally only those since DATE (2026-10-01, or
RFC 3339): the signed entries, their inclusion proofs, a new signed
checkpoint, the public key, the evidence files, proofs that the log extends
every checkpoint it handed out (and those given with --checkpoint), an OSCAL
assessment-results document and an HTML report.

It reads tandem serve's data directory (--data, or the one in --config's
tandem.yaml) directly, so it needs the rights tandem serve has, and works
whether the server runs or not. BUNDLE is a directory, or a .tar.gz.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := auditData(data, config)
			if err != nil {
				return err
			}
			if opts.Since, err = parseSince(since); err != nil {
				return err
			}
			for _, f := range earlier {
				b, err := os.ReadFile(f)
				if err != nil {
					return err
				}
				opts.Earlier = append(opts.Earlier, b)
			}
			if out == "" {
				out = defaultBundleName(opts)
			}
			return exportAudit(cmd.Context(), dir, out, opts, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&data, "data", "", "tandem serve's data directory (default: --config's, else /var/lib/tandem)")
	cmd.Flags().StringVar(&config, "config", "", "tandem serve's tandem.yaml, to find its data directory")
	cmd.Flags().StringVar(&opts.Preview, "preview", "", "only the entries of this preview")
	cmd.Flags().StringVar(&opts.Repo, "repo", "", "only the entries of this repository's previews")
	cmd.Flags().StringVar(&since, "since", "", "only entries from this date (2026-10-01) or time (RFC 3339) on")
	cmd.Flags().StringArrayVar(&earlier, "checkpoint", nil, "a checkpoint kept earlier: the bundle proves the log extends it (repeatable)")
	cmd.Flags().StringVarP(&out, "out", "o", "", "the bundle to write: a new directory, or FILE.tar.gz (default: tandem-audit-SELECTION-DATE.tar.gz)")
	return cmd
}

func exportAudit(ctx context.Context, data, out string, opts audit.ExportOptions, stdout, stderr io.Writer) error {
	db := filepath.Join(data, "tandem.db")
	if _, err := os.Stat(db); err != nil {
		return tandem.Errorf(tandem.ENOTFOUND, "no state database at %s: give tandem serve's data directory with --data or --config", db)
	}
	key, err := audit.LoadKey(data)
	if errors.Is(err, fs.ErrNotExist) {
		return tandem.Errorf(tandem.ENOTFOUND, "no audit log in %s: tandem serve makes its key on first start", data)
	}
	if err != nil {
		return err
	}
	store, err := sqlite.Open(db)
	if err != nil {
		return err
	}
	defer store.Close()
	l, err := audit.Open(ctx, store, key)
	if err != nil {
		return err
	}
	opts.Evidence = audit.EvidenceDirIn(data)
	m, warnings, err := l.Export(ctx, out, opts)
	if err != nil {
		return err
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "tandem: warning: %s\n", w)
	}
	fmt.Fprintf(stdout, "%s: %d entries, %d files, checkpoint of %s at size %d; check it with: tandem audit verify %s --key %s\n",
		out, len(m.Entries), len(m.Files), m.Origin, m.Checkpoint.Size, out, filepath.Join(data, audit.PublicKeyFile))
	return nil
}

// parseSince reads a date (UTC midnight) or an RFC 3339 time.
func parseSince(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse("2006-01-02", s); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return time.Time{}, tandem.Errorf(tandem.EINVALID, "--since %q: a date (2026-10-01) or an RFC 3339 time", s)
	}
	return t.UTC(), nil
}

func defaultBundleName(opts audit.ExportOptions) string {
	sel := "all"
	switch {
	case opts.Preview != "":
		sel = opts.Preview
	case opts.Repo != "":
		sel = opts.Repo
	}
	return fmt.Sprintf("tandem-audit-%s-%s.tar.gz", sel, time.Now().UTC().Format("20060102T150405Z"))
}

func newAuditVerifyCmd(stdout io.Writer) *cobra.Command {
	var keyFile, earlierFile string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify BUNDLE [--key KEY] [--checkpoint EARLIER]",
		Short: "Check a bundle offline: signatures, proofs, evidence, and consistency with a kept checkpoint",
		Long: `Check a bundle from "tandem audit export" without the server: the checkpoint's
signature, the manifest's, every entry's DSSE signature and inclusion proof,
every evidence file's digest, that the log extends every checkpoint the bundle
carries and the one given with --checkpoint (one you kept, from
/v1/audit/checkpoint or an earlier bundle), and that the bundle holds exactly
what its manifest lists.

--key is the log's public key as you got it (/v1/audit/key, or PEM from
/v1/audit/key.pem). Without it the bundle's own key is used, which shows the
bundle is whole but not who made it.

Exits 0 if the bundle verifies; otherwise names the first entry or file that
does not (altered, removed, reordered, not consistent...) and exits 1.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var opts audit.VerifyOptions
			var err error
			if keyFile != "" {
				if opts.Key, err = os.ReadFile(keyFile); err != nil {
					return err
				}
			}
			if earlierFile != "" {
				if opts.Earlier, err = os.ReadFile(earlierFile); err != nil {
					return err
				}
			}
			v, err := audit.Verify(args[0], opts)
			var f *audit.Failure
			if err != nil && !errors.As(err, &f) {
				return err
			}
			if asJSON {
				return printVerifyJSON(stdout, v, f)
			}
			if f != nil {
				return fmt.Errorf("%s does not verify: %w", args[0], f)
			}
			printVerified(stdout, args[0], keyFile, earlierFile != "", v)
			return nil
		},
	}
	cmd.Flags().StringVar(&keyFile, "key", "", "the log's public key: a note verifier key (/v1/audit/key) or PEM")
	cmd.Flags().StringVar(&earlierFile, "checkpoint", "", "a checkpoint you kept earlier: the log must still extend it")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON, for machines")
	return cmd
}

func printVerified(w io.Writer, path, keyFile string, earlier bool, v *audit.Verified) {
	m := v.Manifest
	fmt.Fprintf(w, "%s verifies.\n", path)
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "  log\t%s, tree size %d, root %s\n", v.Origin, m.Checkpoint.Size, m.Checkpoint.Root)
	if v.KeyFromBundle {
		fmt.Fprintf(tw, "  key\tthe bundle's own (%s): it shows the bundle is whole, not who made it; give the key you trust with --key\n", audit.VerifierFile)
	} else {
		fmt.Fprintf(tw, "  key\t%s\n", keyFile)
	}
	fmt.Fprintf(tw, "  selection\t%s: %d entries, %d evidence files\n", selection(m.Selection), len(v.Entries), v.Evidence)
	if len(v.Consistent) > 0 {
		what := "the log extends its checkpoints of sizes"
		if earlier {
			what = "the log extends the earlier checkpoint and those of sizes"
		}
		fmt.Fprintf(tw, "  consistent\t%s %s\n", what, strings.Trim(fmt.Sprint(v.Consistent), "[]"))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "  #\tTIME (UTC)\tEVENT\tPREVIEW\tGEN\tCOMMIT\tBY\tDETAIL")
	for _, e := range v.Entries {
		p := e.Predicate
		detail := p.Detail
		if s := p.Signature; s != nil {
			detail = fmt.Sprintf("%s by %s (%s, re-authenticated by %s)", s.Meaning, s.PrintedName, s.Identity, s.Reauth)
		}
		commit := p.Binding.Commit
		fmt.Fprintf(tw, "  %d\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", e.Index, p.Time.UTC().Format("2006-01-02 15:04:05"), p.Kind, p.Preview,
			p.Generation, commit[:min(len(commit), 12)], p.Actor, detail)
	}
	tw.Flush()
}

func selection(s audit.Selection) string {
	var parts []string
	if s.Preview != "" {
		parts = append(parts, "preview "+s.Preview)
	}
	if s.Repo != "" {
		parts = append(parts, "repository "+s.Repo)
	}
	if !s.Since.IsZero() {
		parts = append(parts, "since "+s.Since.Format(time.RFC3339))
	}
	if s.Complete {
		return "the whole log"
	}
	return strings.Join(parts, ", ")
}

// printVerifyJSON prints the outcome for machines; a failure still exits 1.
func printVerifyJSON(w io.Writer, v *audit.Verified, f *audit.Failure) error {
	type entry struct {
		Index    int64           `json:"index"`
		Envelope json.RawMessage `json:"envelope"`
		audit.Predicate
	}
	out := struct {
		Verified   bool             `json:"verified"`
		Failure    *audit.Failure   `json:"failure,omitempty"`
		Origin     string           `json:"origin,omitempty"`
		Size       int64            `json:"size,omitempty"`
		Root       string           `json:"root,omitempty"`
		KeyGiven   bool             `json:"key_given"`
		Selection  *audit.Selection `json:"selection,omitempty"`
		Consistent []int64          `json:"consistent_with,omitempty"`
		Evidence   int              `json:"evidence_files"`
		Entries    []entry          `json:"entries"`
	}{Verified: f == nil, Failure: f, Entries: []entry{}}
	if v != nil {
		out.Origin, out.Size, out.Root = v.Origin, v.Manifest.Checkpoint.Size, v.Manifest.Checkpoint.Root
		out.KeyGiven, out.Selection, out.Consistent, out.Evidence = !v.KeyFromBundle, &v.Manifest.Selection, v.Consistent, v.Evidence
		for _, e := range v.Entries {
			out.Entries = append(out.Entries, entry{Index: e.Index, Envelope: e.Envelope, Predicate: e.Predicate})
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	if f != nil {
		return exitError(1)
	}
	return nil
}
