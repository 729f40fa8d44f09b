package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/compose"
	"github.com/tandem-dev/tandem/nginxconf"
)

func newRoutesCmd(stdout, stderr io.Writer) *cobra.Command {
	var from string
	var flags stackFlags
	cmd := &cobra.Command{
		Use:   "routes --from-nginx FILE [-f compose.yml]",
		Short: "Print the x-tandem.routes an nginx config says, to paste into the Compose file",
		Long: `Read an nginx config (a server block as mounted at /etc/nginx/conf.d/default.conf,
or a whole nginx.conf) and print the x-tandem.routes block that routes as it does,
ready to paste into the Compose file:

  location /api/ { proxy_pass http://api:8000/; }   →  { path: /api/, to: api:8000, strip_prefix: true }
  location /     { proxy_pass http://web:3000; }    →  { path: /, to: web:3000 }

proxy_pass without a URI passes the path as it is; with the URI "/" the location's
prefix is stripped; upstream blocks resolve to their first server. What routes
cannot say (regular expressions, rewrites, static files, other server blocks) is
printed on stderr as file:line: warning: ..., and as comments in the YAML.

With the Compose file (-f, or the one in this directory), an error_page becomes
the routes' error_page when the page is a project file mounted into nginx.

Exit status 1 if the file cannot be read or no location proxies to a service.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if from == "" {
				return tandem.Errorf(tandem.EINVALID, "name the nginx config: tandem routes --from-nginx FILE")
			}
			opts, err := errorPageOptions(cmd.Context(), &flags, from, stderr)
			if err != nil {
				return err
			}
			res, err := nginxconf.ReadFile(from, opts)
			if err != nil {
				return err
			}
			for _, n := range res.Warnings() {
				fmt.Fprintln(stderr, n)
			}
			if len(res.Routes) == 0 {
				return tandem.Errorf(tandem.EINVALID, "%s: no location proxies to a service: no routes to print", from)
			}
			return nginxconf.WriteYAML(stdout, res)
		},
	}
	cmd.Flags().StringVar(&from, "from-nginx", "", "the nginx config to convert")
	flags.register(cmd, false)
	return cmd
}

// errorPageOptions finds error pages through the volumes of the Compose
// service that mounts the nginx config. A Compose file named with -f must
// load; one merely found here may fail, and error pages stay comments.
func errorPageOptions(ctx context.Context, flags *stackFlags, conf string, stderr io.Writer) (nginxconf.Options, error) {
	files := flags.files
	if len(files) == 0 {
		for _, name := range defaultFiles {
			if _, err := os.Stat(name); err == nil {
				files = []string{name}
				break
			}
		}
	}
	if len(files) == 0 {
		return nginxconf.Options{}, nil
	}
	profiles := flags.profiles
	if len(profiles) == 0 {
		profiles = []string{"*"} // nginx is often under a profile tandem does not enable
	}
	st, err := compose.Load(ctx, compose.Options{Files: files, Profiles: profiles, Vars: tandem.LocalVars(":8080")})
	if err != nil {
		if len(flags.files) > 0 {
			return nginxconf.Options{}, err
		}
		fmt.Fprintf(stderr, "tandem: %s does not load, so error pages are not looked up: %v\n", files[0], err)
		return nginxconf.Options{}, nil
	}
	svc := nginxconf.Mounting(st.Services, conf)
	if svc == nil {
		return nginxconf.Options{}, nil
	}
	return nginxconf.Options{ErrorPage: nginxconf.MountResolver(svc.Mounts, st.Dir)}, nil
}
