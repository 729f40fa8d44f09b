package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
)

func newCheckCmd(stdout io.Writer) *cobra.Command {
	var flags stackFlags
	var runtimeName string
	cmd := &cobra.Command{
		Use:   "check [-f compose.yml]",
		Short: "Validate the stack file and print its problems as file:line: message",
		Long: `Load the stack file as tandem up would and report its problems, one per line,
as file:line: message (warnings as file:line: warning: message): routes to an
unknown service or to a port the service does not listen on, two routes with
the same prefix, a Next.js service under a sub-path whose /_next/ assets are
not routed to it, images the chosen --runtime cannot run, and more.

Exit status 1 if there is an error, 0 otherwise (warnings included).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			files, err := flags.stackFiles()
			if err != nil {
				return err
			}
			st, err := loadStack(cmd.Context(), &flags, files, tandem.LocalVars(":8080"), "")
			if err != nil {
				// A load error is already file:line: message.
				fmt.Fprintln(stdout, err)
				return exitError(1)
			}
			rt, err := checkRuntime(runtimeName)
			if err != nil {
				return err
			}
			problems := checkStack(st, rt)
			if printProblems(stdout, problems) {
				return exitError(1)
			}
			if len(problems) == 0 {
				fmt.Fprintf(stdout, "%s: ok: %d services, %d routes\n", files[0], len(st.Services), len(st.Routes))
			}
			return nil
		},
	}
	flags.register(cmd, false)
	registerRuntime(cmd, &runtimeName)
	return cmd
}

// printProblems prints each problem and reports whether one is an error.
func printProblems(w io.Writer, problems []tandem.Problem) (failed bool) {
	for _, p := range problems {
		fmt.Fprintln(w, p)
		if p.Severity == tandem.SeverityError {
			failed = true
		}
	}
	return failed
}
