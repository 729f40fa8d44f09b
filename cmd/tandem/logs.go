package main

import (
	"io"

	"github.com/spf13/cobra"
)

func newLogsCmd(stdout io.Writer) *cobra.Command {
	var (
		flags  stackFlags
		tail   int
		follow bool
	)
	cmd := &cobra.Command{
		Use:   "logs SERVICE",
		Short: "Show a service's output from a running tandem up",
		Long: `Show the last lines of a service's output (--tail), and with -f keep
showing new ones until interrupted. The whole output is also kept in
DATA/logs/SERVICE.log.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := controlClient(&flags)
			if err != nil {
				return err
			}
			ctx, _, stop := signalContext(cmd.Context())
			defer stop()
			return c.Logs(ctx, args[0], tail, follow, stdout)
		},
	}
	flags.register(cmd, true)
	cmd.Flags().IntVarP(&tail, "tail", "n", 100, "how many of the newest lines to show")
	cmd.Flags().BoolVar(&follow, "follow", false, "keep showing new lines")
	return cmd
}
