package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
)

func newTokenCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke API tokens of a tandem serve",
		Long: `API tokens are how CI and scripts use a tandem serve's API: each has a role
(viewer, reviewer, approver, admin) in one repository, or in all ("*"). The
server keeps only a hash of a token's secret, which is shown once, when the
token is made. Making, listing and revoking tokens needs the role admin in
their repository. The server is found as by tandem preview; on the server's
machine, --config tandem.yaml (as root) needs no token: the bootstrap path.
See docs/access.md.`,
	}
	f.register(cmd)
	cmd.AddCommand(newTokenCreateCmd(f, stdout, stderr), newTokenListCmd(f, stdout), newTokenRevokeCmd(f, stdout))
	explainAuthOf(cmd)
	return cmd
}

func newTokenCreateCmd(f *previewFlags, stdout, stderr io.Writer) *cobra.Command {
	var body httpapi.TokenBody
	cmd := &cobra.Command{
		Use:   "create --name NAME --role ROLE --repo REPO [--ttl 90d]",
		Short: "Make a token; its secret is printed once, on stdout",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			made, err := c.CreateToken(cmd.Context(), body)
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(made)
			}
			t := made.Token
			fmt.Fprintf(stderr, "Made token %s (%s): %s in %s, expires %s. Its secret follows, shown this once:\n",
				t.ID, t.Name, t.Role, repoLabel(t.Repo), when(t.ExpiresAt, "never"))
			fmt.Fprintln(stdout, made.Secret)
			return nil
		},
	}
	cmd.Flags().StringVar(&body.Name, "name", "", "what the token is for, as lists show it: ci, deploy-bot")
	cmd.Flags().StringVar(&body.Role, "role", "", "viewer, reviewer, approver or admin")
	cmd.Flags().StringVar(&body.Repo, "repo", "", `the repository it acts in, or "*" for all`)
	cmd.Flags().StringVar(&body.TTL, "ttl", "90d", "how long it lives: 90d, 72h, or 0 for ever")
	for _, name := range []string{"name", "role", "repo"} {
		cmd.MarkFlagRequired(name)
	}
	return cmd
}

func newTokenListCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the tokens of the repositories you administer, and your own",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			list, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(list)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tROLE\tREPO\tCREATED BY\tEXPIRES\tLAST USED\tREVOKED")
			for _, t := range list {
				role, repo := string(t.Role), repoLabel(t.Repo)
				if t.PersonID != "" {
					role, repo = "(its owner's)", "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t.ID, t.Name, role, repo, t.CreatedBy,
					when(t.ExpiresAt, "never"), when(t.LastUsed, "never"), when(t.RevokedAt, "-"))
			}
			return tw.Flush()
		},
	}
}

func newTokenRevokeCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a token: the server refuses it from now on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s revoked\n", args[0])
			return nil
		},
	}
}

// repoLabel writes AllRepos for people.
func repoLabel(repo string) string {
	if repo == tandem.AllRepos {
		return "* (all)"
	}
	return repo
}

// when writes a time to the minute in local time, or none for the zero time.
func when(t time.Time, none string) string {
	if t.IsZero() {
		return none
	}
	return t.Local().Format("2006-01-02 15:04")
}
