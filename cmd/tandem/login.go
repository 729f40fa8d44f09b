package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/httpapi"
)

func newLoginCmd(stdout, stderr io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "login --server URL",
		Short: "Log in to a tandem serve in the browser, and keep a token of your own for the CLI",
		Long: `Log in to the tandem serve at URL (its api address) as gh auth login does:
tandem prints a URL and a code; open the URL, sign in on the server's sign-in
page, check that it shows the same code, and approve. tandem then keeps a
token of your own in the user's config directory
($XDG_CONFIG_HOME/tandem/credentials.json, mode 0600), which later commands
use for that server when no --token-file or TANDEM_TOKEN is given. The token
acts with your roles as the server's grants give them when it is used.
See docs/access.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server, c, err := httpServer(f)
			if err != nil {
				return err
			}
			ctx, _, stop := signalContext(cmd.Context())
			defer stop()
			return login(ctx, c, server, stdout, stderr)
		},
	}
	cmd.Flags().StringVar(&f.server, "server", "", "the server's API: http://HOST:PORT")
	return cmd
}

// httpServer is the server f names, which must be an http(s) URL: a login
// is to a server reached over the network.
func httpServer(f *previewFlags) (string, *httpapi.Client, error) {
	server := f.serverURL()
	if !strings.HasPrefix(server, "http://") && !strings.HasPrefix(server, "https://") {
		return "", nil, tandem.Errorf(tandem.EINVALID, "give the server's API as --server http(s)://HOST:PORT (or TANDEM_SERVER)")
	}
	c, err := httpapi.NewServerClient(server)
	return server, c, err
}

// login runs the device flow against c and saves the token it gets.
func login(ctx context.Context, c *httpapi.Client, server string, stdout, stderr io.Writer) error {
	host, _ := os.Hostname()
	start, err := c.StartLogin(ctx, "tandem CLI on "+host)
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "To log in, open %s\nand check that the page shows the code %s.\nWaiting for you to approve it (Ctrl-C to stop)...\n",
		start.VerificationURIComplete, start.UserCode)
	interval := time.Duration(start.IntervalMS) * time.Millisecond
	if interval <= 0 {
		interval = max(time.Duration(start.Interval)*time.Second, 5*time.Second)
	}
	deadline := time.Now().Add(time.Duration(start.ExpiresIn) * time.Second)
	for {
		poll, err := c.PollLogin(ctx, start.DeviceCode)
		switch {
		case tandem.ErrorCode(err) == tandem.ENOTFOUND:
			return tandem.Errorf(tandem.ETIMEOUT, "the code %s expired before it was approved: run tandem login again", start.UserCode)
		case err != nil:
			return err
		case poll.Status == "approved":
			if err := saveToken(server, savedCredential{Token: poll.Secret, TokenID: poll.Token.ID, Email: poll.Person.Email, ExpiresAt: poll.Token.ExpiresAt}); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Logged in to %s as %s (token %s, until %s).\n", server, poll.Person.Email, poll.Token.ID, poll.Token.ExpiresAt.Local().Format("2006-01-02"))
			return nil
		case time.Now().After(deadline):
			return tandem.Errorf(tandem.ETIMEOUT, "the code %s expired before it was approved: run tandem login again", start.UserCode)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(interval):
		}
	}
}

func newLogoutCmd(stdout io.Writer) *cobra.Command {
	f := &previewFlags{}
	cmd := &cobra.Command{
		Use:   "logout --server URL",
		Short: "Revoke the token tandem login keeps for a server, and forget it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			server, c, err := httpServer(f)
			if err != nil {
				return err
			}
			creds, err := readCredentials()
			if err != nil {
				return err
			}
			cred, ok := creds.Servers[serverKey(server)]
			if !ok {
				return tandem.Errorf(tandem.ENOTFOUND, "not logged in to %q", server)
			}
			c.Token = cred.Token
			// A token the server no longer takes is as good as revoked.
			if err := c.RevokeToken(cmd.Context(), cred.TokenID); err != nil && tandem.ErrorCode(err) != tandem.EUNAUTHORIZED {
				return err
			}
			delete(creds.Servers, serverKey(server))
			if err := writeCredentials(creds); err != nil {
				return err
			}
			fmt.Fprintf(stdout, "Logged out of %s (token %s revoked).\n", server, cred.TokenID)
			return nil
		},
	}
	cmd.Flags().StringVar(&f.server, "server", "", "the server's API: http://HOST:PORT")
	return cmd
}

// credentials is what tandem login keeps, by server.
type credentials struct {
	Servers map[string]savedCredential `json:"servers"`
}

type savedCredential struct {
	Token     string    `json:"token"`
	TokenID   string    `json:"token_id"`
	Email     string    `json:"email"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
}

// credentialsPath is $XDG_CONFIG_HOME/tandem/credentials.json (or the
// platform's user config directory).
func credentialsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "tandem", "credentials.json"), nil
}

// serverKey is how a server's URL is written in the file: "HTTP://Host:7070/"
// and "http://host:7070" are one server.
func serverKey(server string) string {
	scheme, rest, _ := strings.Cut(strings.TrimRight(server, "/"), "://")
	return strings.ToLower(scheme) + "://" + strings.ToLower(rest)
}

func readCredentials() (*credentials, error) {
	c := &credentials{Servers: map[string]savedCredential{}}
	path, err := credentialsPath()
	if err != nil {
		return c, err
	}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return c, tandem.Errorf(tandem.EINVALID, "%s: %v", path, err)
	}
	if c.Servers == nil {
		c.Servers = map[string]savedCredential{}
	}
	return c, nil
}

// writeCredentials writes the file whole beside it and renames it, mode
// 0600 in a directory of mode 0700: the tokens are the user's alone.
func writeCredentials(c *credentials) error {
	path, err := credentialsPath()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	b, _ := json.MarshalIndent(c, "", "  ")
	tmp, err := os.CreateTemp(filepath.Dir(path), ".credentials-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path) // CreateTemp made it 0600
}

func saveToken(server string, cred savedCredential) error {
	c, err := readCredentials()
	if err != nil {
		return err
	}
	c.Servers[serverKey(server)] = cred
	return writeCredentials(c)
}

// savedToken is the token tandem login kept for server, or "".
func savedToken(server string) (string, error) {
	if server == "" {
		return "", nil
	}
	c, err := readCredentials()
	if err != nil {
		return "", err
	}
	return c.Servers[serverKey(server)].Token, nil
}
