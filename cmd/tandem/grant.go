package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
)

func newGrantCmd(stdout io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "grant",
		Short: "Give roles in a repository to people, email domains and SSO groups",
		Long: `Grants give a role (viewer, reviewer, approver, admin) in a repository, or in
all ("*"), to one person by email, to everyone of an email domain, or to the
members of an SSO group. Those of tandem.yaml are changed in the file; these
commands add and remove the others, and need the role admin in the grant's
repository. The server is found as by tandem preview. See docs/access.md.`,
	}
	f.register(cmd)
	cmd.AddCommand(newGrantAddCmd(f, stdout), newGrantListCmd(f, stdout), newGrantRemoveCmd(f, stdout))
	explainAuthOf(cmd)
	return cmd
}

func newGrantAddCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	var g tandem.Grant
	var role string
	cmd := &cobra.Command{
		Use:   "add --repo REPO --role ROLE (--email ADDR | --domain DOMAIN | --group GROUP)",
		Short: "Add a grant",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			g.Role = tandem.Role(role)
			added, err := c.AddGrant(cmd.Context(), g)
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(added)
			}
			fmt.Fprintf(stdout, "grant %d: %s\n", added.ID, added)
			return nil
		},
	}
	cmd.Flags().StringVar(&g.Repo, "repo", "", `the repository, or "*" for all`)
	cmd.Flags().StringVar(&role, "role", "", "viewer, reviewer, approver or admin")
	cmd.Flags().StringVar(&g.Email, "email", "", "one person's email address")
	cmd.Flags().StringVar(&g.Domain, "domain", "", "everyone with an address @DOMAIN")
	cmd.Flags().StringVar(&g.Group, "group", "", "the members of an SSO group")
	cmd.MarkFlagRequired("repo")
	cmd.MarkFlagRequired("role")
	cmd.MarkFlagsOneRequired("email", "domain", "group")
	cmd.MarkFlagsMutuallyExclusive("email", "domain", "group")
	return cmd
}

func newGrantListCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List the grants of the repositories you administer",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := f.client()
			if err != nil {
				return err
			}
			list, err := c.Grants(cmd.Context())
			if err != nil {
				return err
			}
			if f.json {
				return json.NewEncoder(stdout).Encode(list)
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tGIVES\tFROM")
			for _, g := range list {
				from := g.Source
				if from == "config" {
					from = "tandem.yaml"
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\n", g.ID, g, from)
			}
			return tw.Flush()
		},
	}
}

func newGrantRemoveCmd(f *previewFlags, stdout io.Writer) *cobra.Command {
	return &cobra.Command{
		Use:   "remove ID",
		Short: "Remove a grant (not one of tandem.yaml's)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil {
				return tandem.Errorf(tandem.EINVALID, "grant %q: a grant's ID is a number (see tandem grant list)", args[0])
			}
			c, err := f.client()
			if err != nil {
				return err
			}
			if err := c.DeleteGrant(cmd.Context(), id); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "grant %d removed\n", id)
			return nil
		},
	}
}
