package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
)

// previewFlags find the server: --server, TANDEM_SERVER, the socket of the
// server whose --config is given, or the default data directory's socket.
// Over TCP the server wants a token: --token-file, TANDEM_TOKEN, with
// --config the one in that server's data directory, or the one `tandem
// login` saved for the server.
type previewFlags struct {
	server    string
	config    string
	tokenFile string
	json      bool
}

const defaultServerSocket = "/var/lib/tandem/api.sock"

func (f *previewFlags) client() (*httpapi.Client, error) {
	server := f.server
	if server == "" {
		server = os.Getenv("TANDEM_SERVER")
	}
	switch {
	case server != "":
		c, err := httpapi.NewServerClient(server)
		if err != nil || c.Socket != "" {
			return c, err
		}
		c.Token, err = f.token()
		return c, err
	case f.config != "":
		cfg, err := readServeConfig(f.config)
		if err != nil {
			return nil, err
		}
		return httpapi.NewClient(cfg.socket()), nil
	}
	return httpapi.NewClient(defaultServerSocket), nil
}

// token is the server's API token, from the first place that has it. Not a
// flag with the token itself: every user of the machine can read another's
// command line.
func (f *previewFlags) token() (string, error) {
	switch {
	case f.tokenFile != "":
		return httpapi.ReadToken(f.tokenFile)
	case os.Getenv("TANDEM_TOKEN") != "":
		return strings.TrimSpace(os.Getenv("TANDEM_TOKEN")), nil
	case f.config != "":
		cfg, err := readServeConfig(f.config)
		if err != nil {
			return "", err
		}
		return httpapi.ReadToken(cfg.tokenFile())
	}
	return savedToken(f.serverURL())
}

// serverURL is the server the flags name, as given.
func (f *previewFlags) serverURL() string {
	if f.server != "" {
		return f.server
	}
	return os.Getenv("TANDEM_SERVER")
}

// register adds the flags that find the server to a command and those
// under it.
func (f *previewFlags) register(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", "", "the server's API: http://127.0.0.1:7070, or a unix socket's path")
	cmd.PersistentFlags().StringVar(&f.config, "config", "", "the server's tandem.yaml, to find its local socket (or its token)")
	cmd.PersistentFlags().StringVar(&f.tokenFile, "token-file", "", "a file holding an API token (or the server's DATA/api-token)")
	cmd.PersistentFlags().BoolVar(&f.json, "json", false, "print JSON, for machines")
}

// explainAuth adds to the server's refusal how the CLI passes the token.
func explainAuth(err error) error {
	if tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
		return err
	}
	return tandem.Errorf(tandem.EUNAUTHORIZED, "%v\n(log in with tandem login --server URL, or give a token with --token-file FILE or TANDEM_TOKEN; on the server's machine, --config tandem.yaml reads its bootstrap token)", err)
}

func newPreviewCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Create, list, inspect and destroy previews on a tandem serve",
		Long: `Talk to a running tandem serve: --server http://HOST:PORT (its api address),
TANDEM_SERVER, --config with its tandem.yaml (the local socket in its data
directory), or ` + defaultServerSocket + `.

Over HTTP the server wants an API token: the one tandem login saved for the
server, or one given with --token-file or TANDEM_TOKEN; with --config as well
as --server, the bootstrap token of that server's data directory. The socket
needs none (only root may use it). See docs/access.md.`,
	}
	f.register(cmd)
	cmd.AddCommand(newPreviewCreateCmd(f, stdout, stderr), newPreviewListCmd(f, stdout), newPreviewShowCmd(f, stdout),
		newPreviewLogsCmd(f, stdout), newPreviewDestroyCmd(f, stdout))
	explainAuthOf(cmd)
	return cmd
}

// explainAuthOf makes each subcommand of cmd say how to give a token when
// the server asks for one.
func explainAuthOf(cmd *cobra.Command) {
	for _, sub := range cmd.Commands() {
		run := sub.RunE
		sub.RunE = func(c *cobra.Command, args []string) error { return explainAuth(run(c, args)) }
	}
}

func newPreviewCreateCmd(f *previewFlags, stdout, stderr io.Writer) *cobra.Command {
	var body httpapi.CreateBody
	var detach bool
	cmd := &cobra.Command{
		Use:   "create NAME --repo REPO [--ref REF] [--pr N] [--ttl 72h]",
		Short: "Create a preview, or update one to a new commit, and follow it until it is ready",
		Long: `Create a preview NAME of repository REPO at REF (a branch, refs/pull/7/head, a
tag or a commit; default: the repository's default branch). For a NAME that
exists, this is an update: the new commit's instance comes up beside the one
serving, which goes once the new one is ready.

It follows the preview until it is ready (exit 0) or failed (exit 1, with the
step and the last lines of its output), showing the step, the time taken and
the last line of output; --detach returns at once; --json prints the events.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			body.Name = args[0]
			v, err := c.CreatePreview(cmd.Context(), body)
			if err != nil {
				return err
			}
			if detach {
				return printPreview(stdout, v, f.json)
			}
			return follow(cmd.Context(), c, v, stdout, stderr, f.json)
		},
	}
	cmd.Flags().StringVar(&body.Repo, "repo", "", "the registered repository")
	cmd.Flags().StringVar(&body.Ref, "ref", "", "a branch, refs/pull/N/head, a tag or a commit")
	cmd.Flags().IntVar(&body.PR, "pr", 0, "the pull request's number (PR_NUMBER)")
	cmd.Flags().StringVar(&body.TTL, "ttl", "", "remove it after this long (72h, 30m); default: the stack's preview.ttl")
	cmd.Flags().StringVar(&body.Author, "author", "", "who wrote the change (an email address): they sign no stage of its review")
	cmd.Flags().BoolVar(&detach, "detach", false, "return once it is queued")
	cmd.MarkFlagRequired("repo")
	return cmd
}

// follow shows a create's progress until the preview is ready or failed.
func follow(ctx context.Context, c *httpapi.Client, v httpapi.View, stdout, stderr io.Writer, asJSON bool) error {
	gen := v.Generation
	began := time.Now()
	tty := isTerminal(stderr) && !asJSON
	state, step, last := string(v.State), "", ""
	show := func() {
		line := fmt.Sprintf("%s  %-9s %-14s %5.1fs", v.Name, state, step, time.Since(began).Seconds())
		if last != "" {
			line += "  │ " + last
		}
		if tty {
			fmt.Fprintf(stderr, "\r\x1b[K%s", truncate(line, 120))
		} else {
			fmt.Fprintln(stderr, line)
		}
	}
	var outcome string
	var since bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if tty {
		// The elapsed time moves even when nothing else does.
		go func() {
			t := time.NewTicker(200 * time.Millisecond)
			defer t.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case <-t.C:
					show()
				}
			}
		}()
	}
	err := c.PreviewEvents(ctx, v.Name, 0, true, func(e tandem.Event) bool {
		// Skip what came before this create: its events start after the
		// record was last written.
		if !since {
			if e.Time.Before(v.UpdatedAt) {
				return true
			}
			since = true
		}
		if asJSON {
			json.NewEncoder(stdout).Encode(e)
		}
		switch e.Kind {
		case "state":
			state = e.Detail
			if state == string(tandem.PreviewReady) || state == string(tandem.PreviewFailed) {
				outcome = state
			}
		case "step":
			step = e.Detail
		case "log":
			last = e.Detail
			if tty {
				return true
			}
			return outcome == ""
		case "destroyed":
			outcome = "destroyed"
		}
		if !asJSON && (e.Kind == "state" || e.Kind == "step") && !tty {
			show()
		}
		return outcome == ""
	})
	cancel()
	if tty {
		fmt.Fprintln(stderr)
	}
	if err != nil {
		return err
	}
	final, err := c.Preview(context.Background(), v.Name)
	if err != nil {
		return err
	}
	if final.Generation != gen && final.State != tandem.PreviewReady {
		return tandem.Errorf(tandem.ECONFLICT, "preview %s was updated again meanwhile (generation %d)", v.Name, final.Generation)
	}
	switch {
	case asJSON:
		json.NewEncoder(stdout).Encode(final)
	case final.State == tandem.PreviewReady:
		fmt.Fprintf(stdout, "%s is ready in %.1fs at %s (commit %s)\n", final.Name, time.Since(began).Seconds(), final.URL, short(final.Commit))
	}
	if final.State == tandem.PreviewFailed || outcome == string(tandem.PreviewFailed) {
		fmt.Fprintf(stderr, "%s failed at %s: %s\n", final.Name, final.Step, final.Error)
		for _, l := range final.LogTail {
			fmt.Fprintf(stderr, "  %s\n", l)
		}
		return exitError(1)
	}
	return nil
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func newPreviewListCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the previews",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			vs, err := c.Previews(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(vs)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSTATE\tREPO\tREF\tCOMMIT\tURL\tUPDATED\tEXPIRES")
			for _, v := range vs {
				expires := "-"
				if !v.ExpiresAt.IsZero() {
					expires = "in " + time.Until(v.ExpiresAt).Round(time.Minute).String()
				}
				state := string(v.State)
				if v.State == tandem.PreviewFailed {
					state += " (" + v.Step + ")"
				}
				if v.Asleep {
					state += " (asleep)"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s ago\t%s\n", v.Name, state, v.Repo, v.Ref, short(v.Commit), v.URL,
					time.Since(v.UpdatedAt).Round(time.Second), expires)
			}
			return tw.Flush()
		},
	}
}

func newPreviewShowCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "show NAME",
		Short: "Show a preview: state, commit, URL, what it runs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			v, err := c.Preview(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return printPreview(stdout, v, f.json)
		},
	}
}

func printPreview(w io.Writer, v httpapi.View, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(v)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, v string) {
		if v != "" {
			fmt.Fprintf(tw, "%s\t%s\n", k, v)
		}
	}
	row("name", v.Name)
	if v.Asleep {
		row("state", string(v.State)+" (asleep: the next request wakes it)")
	} else {
		row("state", string(v.State))
	}
	if v.State == tandem.PreviewFailed {
		row("failed at", v.Step)
		row("error", v.Error)
	}
	row("url", v.URL)
	row("repo", v.Repo)
	row("ref", v.Ref)
	row("commit", v.Commit)
	row("branch", v.Branch)
	if v.PR != 0 {
		row("pull request", fmt.Sprint(v.PR))
	}
	row("ttl", v.TTL)
	if !v.ExpiresAt.IsZero() {
		row("expires", v.ExpiresAt.Local().Format(time.RFC3339))
	}
	row("generation", fmt.Sprintf("%d (serving %d)", v.Generation, v.Serving))
	row("stack digest", v.Binding.StackDigest)
	for svc, key := range v.Binding.Builds {
		row("build "+svc, key)
	}
	row("database snapshot", v.Binding.SnapshotKey)
	tw.Flush()
	for _, l := range v.LogTail {
		fmt.Fprintf(w, "  %s\n", l)
	}
	return nil
}

func newPreviewLogsCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	var tail int
	var followLogs bool
	cmd := &cobra.Command{
		Use:   "logs NAME SERVICE",
		Short: "Show a service's output in a preview",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			ctx, _, stop := signalContext(cmd.Context())
			defer stop()
			return c.PreviewLogs(ctx, args[0], args[1], tail, followLogs, stdout)
		},
	}
	cmd.Flags().IntVarP(&tail, "tail", "n", 100, "how many of the newest lines to show")
	cmd.Flags().BoolVar(&followLogs, "follow", false, "keep showing new lines")
	return cmd
}

func newPreviewDestroyCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "destroy NAME",
		Short: "Destroy a preview and everything it owned",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DestroyPreview(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s destroyed\n", args[0])
			return nil
		},
	}
}
