package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"syscall"

	"github.com/tandem-dev/tandem"
	"github.com/tandem-dev/tandem/supervisor"
)

// Client talks to a running instance's control API over its unix socket.
type Client struct {
	Socket string
	http   *http.Client
}

// NewClient returns a client for the API listening on socket.
func NewClient(socket string) *Client {
	return &Client{Socket: socket, http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}}
}

func (c *Client) do(ctx context.Context, method, path string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, "http://tandem"+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, &tandem.Error{Code: tandem.EUNAVAILABLE, Message: errNotRunning.Error() + " (no socket at " + c.Socket + ")"}
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
	q := url.Values{"tail": {fmt.Sprint(tail)}}
	if follow {
		q.Set("follow", "1")
	}
	resp, err := c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(service)+"/logs?"+q.Encode())
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
