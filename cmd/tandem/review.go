package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/access"
	"github.com/tandem-dev/tandem/audit"
	"github.com/tandem-dev/tandem/capture"
	"github.com/tandem-dev/tandem/review"
	"github.com/tandem-dev/tandem/sqlite"
)

// reviewConfig is tandem.yaml's review: how evidence is captured and
// signatures re-authenticated.
type reviewConfig struct {
	// Chromium is the browser that captures pages; "none": no captures.
	Chromium string `yaml:"chromium"`
	// ReauthMaxAge is how long a browser's sign-in counts as a signature's
	// re-authentication: "5m".
	ReauthMaxAge duration `yaml:"reauth_max_age"`
	// MaxUpload bounds an uploaded evidence file: "100m".
	MaxUpload string `yaml:"max_upload"`
}

// checkReview checks tandem.yaml's review.
func (c *serveConfig) checkReview(fail failFunc) {
	r := c.Review
	if r == nil {
		return
	}
	if r.ReauthMaxAge < 0 || time.Duration(r.ReauthMaxAge) > time.Hour {
		fail(c.line("review", "reauth_max_age"), "review: reauth_max_age must be from 0 to 1h: a signature is given by whoever signed in that long ago")
	}
	if r.MaxUpload != "" {
		var b types.UnitBytes
		if err := b.DecodeMapstructure(r.MaxUpload); err != nil || b <= 0 {
			fail(c.line("review", "max_upload"), "review: max_upload %q is not a size, like 100m", r.MaxUpload)
		}
	}
	if p := r.Chromium; p != "" && p != "none" && !filepath.IsAbs(p) {
		fail(c.line("review", "chromium"), "review: chromium %q must be an absolute path (or none)", p)
	}
}

// previewGetter finds previews in the store, for the review service.
type previewGetter struct{ *sqlite.DB }

func (g previewGetter) Get(ctx context.Context, name string) (*tandem.Preview, error) {
	return g.Preview(ctx, name)
}

// newReviews makes tandem serve's review service: plans, checklists,
// captures through the gateway, uploads and signatures.
func newReviews(cfg *serveConfig, store *sqlite.DB, auditLog tandem.AuditLog, signIn *access.Server, logger *slog.Logger) (*review.Service, error) {
	rc := reviewConfig{}
	if cfg.Review != nil {
		rc = *cfg.Review
	}
	rcfg := review.Config{Store: store, Previews: previewGetter{store}, Log: auditLog, Evidence: audit.EvidenceDirIn(cfg.Data),
		Access: signIn, Gateway: captureGateway(cfg), ReauthMaxAge: time.Duration(rc.ReauthMaxAge)}
	if rc.MaxUpload != "" {
		var b types.UnitBytes
		b.DecodeMapstructure(rc.MaxUpload) // checked with the file
		rcfg.MaxUpload = int64(b)
	}
	if rc.Chromium != "none" {
		path := nonEmpty(rc.Chromium, capture.FindChromium())
		rcfg.Browser = &capture.Browser{Path: path}
		if _, err := os.Stat(path); err != nil {
			logger.Warn("review: no Chromium: pages cannot be captured as evidence (install chromium-headless-shell, or set review.chromium)", "chromium", rc.Chromium)
		}
	}
	return review.New(rcfg)
}

// captureGateway is where tandem's capture browser reaches previews: this
// server's own gateway, on the listener of the scheme browsers use.
func captureGateway(cfg *serveConfig) string {
	addr := cfg.Listen
	if cfg.PublicScheme == "https" && cfg.TLS != nil {
		addr = cfg.TLS.Listen
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	if wildcard(host) {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func nonEmpty(s, otherwise string) string {
	if s == "" {
		return otherwise
	}
	return s
}

func newReviewCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "review",
		Short: "Review a preview: its checklist, evidence and signed approvals",
		Long: `Review the build a preview runs, as its repository's review plan
(.tandem/review.yaml, or x-tandem.review) says: record checklist results, with
captures of pages in headless Chromium taken through the gateway as you, upload
evidence, and sign the approval pipeline's stages in order. Signing is an
electronic signature (21 CFR Part 11): it needs your own sign-in (tandem login)
and a fresh code, from your authenticator app or mailed by "tandem review
code". Every step is an entry of the audit log; a new commit starts the review
again. The server is found as by tandem preview. See docs/review.md.`,
	}
	f.register(cmd)
	cmd.AddCommand(newReviewStatusCmd(f, stdout), newReviewCheckCmd(f, stdout), newReviewEvidenceCmd(f, stdout),
		newReviewCodeCmd(f, stderr), newReviewSignCmd(f, "approve", stdout, stderr), newReviewSignCmd(f, "reject", stdout, stderr))
	explainAuthOf(cmd)
	return cmd
}

func newReviewStatusCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "status NAME",
		Short: "Show the review plan, the checklist, the stages and who signed what",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			st, err := c.ReviewStatus(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(st)
			}
			return printReview(stdout, st.ReviewState)
		},
	}
}

// printReview shows a review for people.
func printReview(w io.Writer, st *tandem.ReviewState) error {
	fmt.Fprintf(w, "%s (%s): %s\n", st.Preview, st.Repo, review.Line(st))
	if st.Generation > 0 {
		fmt.Fprintf(w, "generation %d at %s", st.Generation, short(st.Binding.Commit))
		if st.Plan != nil {
			fmt.Fprintf(w, ", plan %s (%s)", nonEmpty(st.Plan.Source, "default"), shortDigest(st.PlanDigest))
		}
		fmt.Fprintln(w)
	}
	if st.Author != "" {
		fmt.Fprintf(w, "author: %s (signs no stage)\n", st.Author)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(st.Checklist) > 0 {
		fmt.Fprintln(tw, "\nITEM\tRESULT\tBY\tEVIDENCE\tTEXT")
		for _, is := range st.Checklist {
			result, by := "-", ""
			if is.Result != nil {
				result, by = is.Result.Result, is.Result.By
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\n", is.Item.ID, result, by, len(is.Evidence), truncate(is.Item.Text, 60))
		}
	}
	if len(st.Stages) > 0 {
		fmt.Fprintln(tw, "\nSTAGE\tSTATE\tSIGNERS\tSIGNED BY")
		for _, ss := range st.Stages {
			var by []string
			for _, a := range ss.Signatures {
				by = append(by, fmt.Sprintf("%s (%s, %s)", a.Signature.PrintedName, a.Signature.Meaning, a.Signature.Time.UTC().Format("2006-01-02 15:04 UTC")))
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%s\n", ss.Stage.Name, ss.State, ss.Stage.Signers, strings.Join(by, "; "))
		}
	}
	for _, a := range st.Superseded {
		fmt.Fprintf(tw, "\n%s at %s by %s (stage %s), superseded", a.Signature.Meaning, short(a.Commit), a.Signature.PrintedName, nonEmpty(a.Signature.Stage, "none"))
	}
	if len(st.Superseded) > 0 {
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func shortDigest(d string) string { return truncate(strings.TrimPrefix(d, "sha256:"), 12) }

func newReviewCheckCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	var req review.CheckRequest
	var pass, fail, na bool
	cmd := &cobra.Command{
		Use:   "check NAME ITEM --pass|--fail|--na [--note TEXT] [--capture]",
		Short: "Record a checklist item's result, capturing its page first with --capture",
		Long: `Record the result of checklist item ITEM for the generation the preview serves.
With --capture, tandem first loads the item's page in headless Chromium through
the gateway, signed in as you, and keeps a full-page screenshot, the page
load's HTTP exchanges (HAR) and its rendered text as the result's evidence.
It takes the role reviewer in the preview's repository.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case pass && !fail && !na:
				req.Result = tandem.ResultPass
			case fail && !pass && !na:
				req.Result = tandem.ResultFail
			case na && !pass && !fail:
				req.Result = tandem.ResultNA
			default:
				return tandem.Errorf(tandem.EINVALID, "say one of --pass, --fail and --na")
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			req.Item = args[1]
			res, err := c.ReviewCheck(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			return printResult(stdout, res, f.json)
		},
	}
	cmd.Flags().BoolVar(&pass, "pass", false, "the item passed")
	cmd.Flags().BoolVar(&fail, "fail", false, "the item failed")
	cmd.Flags().BoolVar(&na, "na", false, "the item does not apply")
	cmd.Flags().StringVar(&req.Note, "note", "", "a note for the record")
	cmd.Flags().BoolVar(&req.Capture, "capture", false, "capture the item's page first, as evidence")
	cmd.Flags().IntVar(&req.Generation, "generation", 0, "the generation you reviewed (refused if another serves now)")
	return cmd
}

func printResult(w io.Writer, r *tandem.ChecklistResult, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(r)
	}
	what := r.Result
	if what == "" {
		what = "evidence"
	}
	fmt.Fprintf(w, "%s: %s recorded for generation %d at %s (log entry %d)\n", r.Item, what, r.Generation, short(r.Commit), r.Entry)
	for _, ev := range r.Evidence {
		fmt.Fprintf(w, "  %s  %s (%s, %d bytes)\n", ev.Digest, ev.Name, ev.MediaType, ev.Size)
	}
	return nil
}

func newReviewEvidenceCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	var gen int
	cmd := &cobra.Command{
		Use:   "evidence NAME ITEM FILE",
		Short: "Upload a file (a test report, a video) as evidence for a checklist item",
		Long: `Upload FILE ("-" for standard input) as evidence for checklist item ITEM of
the generation the preview serves. It is kept byte for byte under its SHA-256;
its type is sniffed from its content. It takes the role reviewer (a token of
that role, from CI, may upload).`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			var in io.Reader = os.Stdin
			name := "stdin"
			if args[2] != "-" {
				file, err := os.Open(args[2])
				if err != nil {
					return tandem.Errorf(tandem.EINVALID, "evidence: %v", err)
				}
				defer file.Close()
				in, name = file, filepath.Base(args[2])
			}
			res, err := c.ReviewEvidence(cmd.Context(), args[0], review.EvidenceRequest{Item: args[1], Filename: name, Generation: gen}, in)
			if err != nil {
				return err
			}
			return printResult(stdout, res, f.json)
		},
	}
	cmd.Flags().IntVar(&gen, "generation", 0, "the generation it is evidence of (refused if another serves now)")
	return cmd
}

func newReviewCodeCmd(f *previewFlags, stderr io.Writer) *cobra.Command {
	var stage string
	cmd := &cobra.Command{
		Use:   "code NAME [--stage STAGE]",
		Short: "Have a one-time code to sign with mailed to you",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.ReviewCode(cmd.Context(), args[0], stage); err != nil {
				return err
			}
			fmt.Fprintln(stderr, "A code to sign with is on its way to your email address; give it with --code.")
			return nil
		},
	}
	cmd.Flags().StringVar(&stage, "stage", "", "the stage you will sign (said in the mail)")
	return cmd
}

func newReviewSignCmd(f *previewFlags, verb string, stdout, stderr io.Writer) *cobra.Command {
	var req review.SignRequest
	var meaning string
	cmd := &cobra.Command{
		Use:   verb + " NAME --stage STAGE --code CODE [--comment TEXT]",
		Short: map[string]string{"approve": "Sign a stage of the preview's approval pipeline", "reject": "Reject the build the preview runs, signing for a stage"}[verb],
		Long: `Give an electronic signature for stage STAGE of the generation the preview
serves: your printed name, the time (UTC) and the meaning (` + verb + `), with
the generation, its binding, the review plan's digest and the checklist, in
one signed entry of the audit log. It needs your own sign-in (tandem login)
and a fresh code: --code CODE from your authenticator app, or one "tandem
review code" mailed you ("--code -" reads it from standard input). Stages are
signed in order, by whom the plan admits; the change's author signs none, and
one person signs one stage unless the plan allows more.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Meaning = tandem.SignatureMeaning(meaning)
			if verb == "reject" {
				req.Meaning = tandem.MeaningRejected
			}
			if req.Code == "-" {
				line, _ := bufio.NewReader(cmd.InOrStdin()).ReadString('\n')
				req.Code = strings.TrimSpace(line)
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			a, err := c.ReviewSign(cmd.Context(), args[0], req)
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(a)
			}
			s := a.Signature
			fmt.Fprintf(stdout, "%s signed %s of %s at %s (generation %d) as %s, %s, after re-authenticating with %s (log entry %d)\n",
				s.PrintedName, nonEmpty(s.Stage, "no stage"), a.Preview, short(a.Commit), a.Generation, s.Meaning,
				s.Time.UTC().Format(time.RFC3339), s.Reauth, a.Entry)
			return nil
		},
	}
	cmd.Flags().StringVar(&req.Stage, "stage", "", "the stage signed for")
	if verb == "approve" {
		cmd.Flags().StringVar(&meaning, "meaning", "", "what you mean: approved or reviewed (the stage's), or authored (the author's own, for no stage)")
	}
	cmd.Flags().StringVar(&req.Code, "code", "", `your authenticator app's current code, or a mailed one ("-": read it from standard input)`)
	cmd.Flags().StringVar(&req.Comment, "comment", "", "a comment, part of the signature")
	cmd.Flags().IntVar(&req.Generation, "generation", 0, "the generation you reviewed (refused if another serves now)")
	return cmd
}
