package httpapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/tandem-dev/tandem"
)

// CreatePreview asks tandem serve for a preview (or an update of one).
func (c *Client) CreatePreview(ctx context.Context, body CreateBody) (View, error) {
	var v View
	resp, err := c.send(ctx, http.MethodPost, "/v1/previews", body)
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// Previews lists every preview.
func (c *Client) Previews(ctx context.Context) ([]View, error) {
	var vs []View
	resp, err := c.do(ctx, http.MethodGet, "/v1/previews")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return vs, json.NewDecoder(resp.Body).Decode(&vs)
}

// Preview returns one preview.
func (c *Client) Preview(ctx context.Context, name string) (View, error) {
	var v View
	resp, err := c.do(ctx, http.MethodGet, "/v1/previews/"+url.PathEscape(name))
	if err != nil {
		return v, err
	}
	defer resp.Body.Close()
	return v, json.NewDecoder(resp.Body).Decode(&v)
}

// DestroyPreview destroys a preview.
func (c *Client) DestroyPreview(ctx context.Context, name string) error {
	resp, err := c.do(ctx, http.MethodDelete, "/v1/previews/"+url.PathEscape(name))
	if err != nil {
		return err
	}
	return resp.Body.Close()
}

// PreviewEvents calls fn with a preview's events after the one with ID
// after, then, if follow, with new ones as they come, until fn returns
// false or ctx ends.
func (c *Client) PreviewEvents(ctx context.Context, name string, after int64, follow bool, fn func(tandem.Event) bool) error {
	q := url.Values{"after": {fmt.Sprint(after)}}
	if follow {
		q.Set("follow", "1")
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	resp, err := c.do(ctx, http.MethodGet, "/v1/previews/"+url.PathEscape(name)+"/events?"+q.Encode())
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e tandem.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			return fmt.Errorf("event stream: %w", err)
		}
		if !fn(e) {
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil
	}
	return sc.Err()
}

// PreviewLogs copies the last tail lines of a service of a preview to w,
// then, if follow, new lines until ctx ends.
func (c *Client) PreviewLogs(ctx context.Context, name, service string, tail int, follow bool, w io.Writer) error {
	return c.copyLines(ctx, "/v1/previews/"+url.PathEscape(name)+"/logs/"+url.PathEscape(service), tail, follow, w)
}
