package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// newServiceCmd makes start, stop and restart: one action on one or more
// services of a running tandem up, as docker compose's commands of the
// same names.
func newServiceCmd(action, short string, stdout io.Writer) *cobra.Command {
	var flags stackFlags
	cmd := &cobra.Command{
		Use:   action + " SERVICE...",
		Short: short,
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := controlClient(&flags)
			if err != nil {
				return err
			}
			for _, name := range args {
				st, err := c.Act(cmd.Context(), name, action)
				if err != nil {
					return err
				}
				fmt.Fprintf(stdout, "%s: %s\n", name, st.State)
			}
			return nil
		},
	}
	flags.register(cmd, true)
	return cmd
}
