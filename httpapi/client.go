package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// Client talks to tandem's control API: a running tandem up's over its
// unix socket, or tandem serve's over HTTP or its socket.
type Client struct {
	Socket string // "" for an HTTP server
	// Token is sent as "Authorization: Bearer TOKEN": tandem serve's TCP
	// listener refuses requests without it.
	Token string
	base  string
	http  *http.Client
}

// NewClient returns a client for the API listening on the unix socket.
func NewClient(socket string) *Client {
	return &Client{Socket: socket, base: "http://tandem", http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

// NewServerClient returns a client for server: an http:// or https:// URL,
// or a unix socket's path (with or without "unix:").
func NewServerClient(server string) (*Client, error) {
	switch {
	case strings.HasPrefix(server, "http://"), strings.HasPrefix(server, "https://"):
		if _, err := url.Parse(server); err != nil {
			return nil, tandem.Errorf(tandem.EINVALID, "server %q: %v", server, err)
		}
		return &Client{base: strings.TrimSuffix(server, "/"), http: &http.Client{}}, nil
	case server == "":
		return nil, tandem.Errorf(tandem.EINVALID, "no server: give --server or set TANDEM_SERVER")
	}
	return NewClient(strings.TrimPrefix(server, "unix:")), nil
}

func (c *Client) where() string {
	if c.Socket != "" {
		return "no socket at " + c.Socket
	}
	return "nothing answers at " + c.base
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	return c.send(ctx, method, path, nil)
}

func (c *Client) send(ctx context.Context, method, path string, body any) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			msg := errNotRunning.Error()
			if c.Socket == "" {
				msg = "tandem serve is not running"
			}
			return nil, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: msg + " (" + c.where() + ")"}
		}
		return nil, err
	}
	if resp.StatusCode >= 300 {
		defer resp.Body.Close()
		return nil, decodeError(resp)
	}
	return resp, nil
}

// Services returns every service's status.
func (c *Client) Services(ctx context.Context) ([]supervisor.Status, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "/v1/services")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out []supervisor.Status
	return out, json.NewDecoder(resp.Body).Decode(&out)
}

// Act starts, stops or restarts a service and returns its new status.
func (c *Client) Act(ctx context.Context, service, action string) (supervisor.Status, error) {
	var st supervisor.Status
	resp, err := c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/"+action)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	return st, json.NewDecoder(resp.Body).Decode(&st)
}

// Logs copies the last tail lines of a service's output to w, then, if
// follow, new lines until ctx ends or the instance stops.
func (c *Client) Logs(ctx context.Context, service string, tail int, follow bool, w io.Writer) error {
	return c.copyLines(ctx, "/v1/services/"+url.PathEscape(service)+"/logs", tail, follow, w)
}

// copyLines copies a logs endpoint's lines to w, until it ends or ctx does.
func (c *Client) copyLines(ctx context.Context, path string, tail int, follow bool, w io.Writer) error {
	q := url.Values{"tail": {fmt.Sprint(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, path+"?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(w, resp.Body)
	if ctx.Err() != nil {
		return nil
	}
	return err
}
