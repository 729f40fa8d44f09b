package main

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem/httpapi"
)

func newPsCmd(stdout io.Writer) *cobra.Command {
	var flags stackFlags
	cmd := &cobra.Command{
		Use:   "ps [-f compose.yml]",
		Short: "List the services of a running tandem up and their state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := controlClient(&flags)
			if err != nil {
				return err
			}
			sts, err := c.Services(cmd.Context())
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(stdout, 0, 0, 2, ' ', 0)
			// ID is what the runtime calls the service's process: a pid, a
			// container id.
			fmt.Fprintln(tw, "SERVICE\tSTATE\tID\tSINCE\tRESTARTS\tDETAIL")
			for _, st := range sts {
				id := "-"
				if st.ID != "" {
					id = st.ID
				}
				detail := st.Error
				if detail == "" {
					detail = st.Health
				}
				if st.State == "exited" {
					detail = fmt.Sprintf("exit code %d", st.ExitCode)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\t%d\t%s\n", st.Service, st.State, id,
					time.Since(st.Since).Round(time.Second), st.Restarts, detail)
			}
			return tw.Flush()
		},
	}
	flags.register(cmd, true)
	return cmd
}

// controlClient finds the control socket of the tandem up for these flags.
func controlClient(flags *stackFlags) (*httpapi.Client, error) {
	files, err := flags.stackFiles()
	if err != nil && flags.data == "" {
		return nil, err
	}
	if len(files) == 0 {
		files = []string{"."}
	}
	dir, err := flags.dataDir(files)
	if err != nil {
		return nil, err
	}
	return httpapi.NewClient(socketPath(dir)), nil
}
