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

func newShareCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &previewFlags{}
	var body httpapi.ShareBody
	var list bool
	var revoke string
	cmd := &cobra.Command{
		Use:   "share NAME --email ADDR [--ttl 48h] [--send] | --list | --revoke ID",
		Short: "Share a private preview with one person, by email address",
		Long: `Make a link that opens one private preview for one person: opening it asks
for a one-time code that tandem mails to that address (or, if they enrolled
one, their authenticator app's). The link works for that preview only, until
it expires (--ttl, default 48h) or is revoked; wrong codes lock it. Its URL is
printed once, on stdout; --send mails it to the person too.

Sharing needs the role reviewer in the preview's repository. The server is
found as by tandem preview. See docs/access.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			name := args[0]
			switch {
			case list:
				links, err := c.Shares(cmd.Context(), name)
				if err != nil {
					return err
				}
				return printShares(stdout, links, f.json)
			case revoke != "":
				link, err := c.RevokeShare(cmd.Context(), name, revoke)
				if err != nil {
					return err
				}
				if f.json {
					return json.NewEncoder(stdout).Encode(link)
				}
				fmt.Fprintf(stdout, "%s revoked: %s may no longer open %s\n", link.ID, link.Email, name)
				return nil
			case body.Email == "":
				return tandem.Errorf(tandem.EINVALID, "share %s: say whom with --email ADDR (or --list, --revoke ID)", name)
			}
			made, err := c.CreateShare(cmd.Context(), name, body)
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(made)
			}
			s := made.Share
			fmt.Fprintf(stderr, "Made share link %s: %s may open %s until %s. The link follows, shown this once:\n",
				s.ID, s.Email, s.Preview, when(s.ExpiresAt, "never"))
			fmt.Fprintln(stdout, made.URL)
			if made.Warning != "" {
				fmt.Fprintf(stderr, "tandem: %s\n", made.Warning)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().StringVar(&body.Email, "email", "", "the address of the person to share with")
	cmd.Flags().StringVar(&body.TTL, "ttl", "48h", "how long the link works: 48h, 7d (at most 30d)")
	cmd.Flags().BoolVar(&body.Send, "send", false, "mail the link to the person too")
	cmd.Flags().BoolVar(&list, "list", false, "list the preview's share links instead")
	cmd.Flags().StringVar(&revoke, "revoke", "", "revoke the share link `ID` instead")
	explainAuthOf(cmd)
	return cmd
}

func printShares(w io.Writer, links []*tandem.ShareLink, asJSON bool) error {
	if asJSON {
		return json.NewEncoder(w).Encode(links)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tEMAIL\tCREATED BY\tEXPIRES\tUSES\tSTATE")
	for _, s := range links {
		state := "active"
		switch {
		case !s.RevokedAt.IsZero():
			state = "revoked " + when(s.RevokedAt, "")
		case !s.LockedAt.IsZero():
			state = fmt.Sprintf("locked after %d wrong codes", s.Failures)
		case !s.Valid(time.Now()):
			state = "expired"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Email, s.CreatedBy, when(s.ExpiresAt, "never"), s.Uses, state)
	}
	return tw.Flush()
}
