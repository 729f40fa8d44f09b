// Package testbrowser starts a headless Chromium for tests, driven by
// chromedp: a profile of its own, no network beyond what the test maps.
package testbrowser

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-dev/tandem/capture"
)

// Path returns Chromium's binary, or "" when there is none: TANDEM_CHROMIUM,
// else where tandem's capture finds it.
func Path() string {
	if p := os.Getenv("TANDEM_CHROMIUM"); p != "" {
		return p
	}
	return capture.FindChromium()
}

// Options shape the browser.
type Options struct {
	// HostRules are Chromium's --host-resolver-rules: "MAP
	// *.previews.example.com 127.0.0.1" sends every preview's host name to
	// the gateway, as DNS would.
	HostRules string
}

// New starts a browser for the test and returns the context its tab runs
// in (each chromedp.Run in it acts in that one tab), ended with the test.
func New(t testing.TB, o Options) context.Context {
	t.Helper()
	path := Path()
	if path == "" {
		t.Fatal("no Chromium: install chromium-headless-shell, or set TANDEM_CHROMIUM")
	}
	opts := capture.Headless(path, t.TempDir()) // as tandem itself starts it
	if o.HostRules != "" {
		opts = append(opts, chromedp.Flag("host-resolver-rules", o.HostRules))
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancel()
		cancelAlloc()
	})
	// Start it now, so a broken browser fails here and not mid-test. (The
	// browser lives as long as the context of its first run: this one.)
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// Do runs steps in the browser's tab, failing the test after a minute
// with where the browser was and what it showed.
func Do(t testing.TB, ctx context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := chromedp.Do(c, steps...); err != nil {
		loc, text := where(ctx)
		t.Fatalf("browser at %s: %v\npage: %.600s", loc, err, text)
	}
}

// where says where the browser is, for a failure.
func where(ctx context.Context) (string, string) {
	loc, text, _ := read(ctx)
	return loc, text
}

// read is the tab's location and the text of its body, read within 10 s.
func read(ctx context.Context) (loc, text string, err error) {
	c, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if loc, err = chromedp.Run(c, chromedp.Location()); err != nil {
		return "", "", err
	}
	text, err = chromedp.Run(c, chromedp.Text(chromedp.CSS("body")))
	return loc, text, err
}

// Open navigates to url and returns the page's location and text once its
// body is there.
func Open(t testing.TB, ctx context.Context, url string) (location, text string) {
	t.Helper()
	Do(t, ctx, chromedp.Navigate(url))
	return Page(t, ctx)
}

// Page returns the current location and the text of the page's body.
// A read that fails (the document was replaced under it: a page that
// navigates again as it loads) is tried again on the page that replaced it.
func Page(t testing.TB, ctx context.Context) (location, text string) {
	t.Helper()
	var err error
	for try := 0; try < 3; try++ {
		Do(t, ctx, chromedp.WaitReady(chromedp.CSS("body")))
		if location, text, err = read(ctx); err == nil {
			return location, text
		}
		t.Logf("reading the page at %s: %v", location, err)
	}
	t.Fatalf("reading the page at %s: %v", location, err)
	return "", ""
}

// Cookie is a cookie the browser keeps.
type Cookie struct {
	Name, Value, Domain, Path string
	HTTPOnly, Secure          bool
	SameSite                  string // "lax", "strict", "none", or "" when unset
}

// Cookies returns the cookies the browser would send to url.
func Cookies(t testing.TB, ctx context.Context, url string) []Cookie {
	t.Helper()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{url}})
	if err != nil {
		t.Fatalf("cookies of %s: %v", url, err)
	}
	var out []Cookie
	for _, c := range res.Cookies {
		out = append(out, Cookie{Name: c.Name, Value: c.Value, Domain: c.Domain, Path: c.Path, HTTPOnly: c.HTTPOnly,
			Secure: c.Secure, SameSite: strings.ToLower(c.SameSite.String())})
	}
	return out
}

// WaitFor waits until the JavaScript expression js is true in the tab,
// across navigations (an action waiting in a page ends with it), for a
// minute at most.
func WaitFor(t testing.TB, ctx context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		ok, err := chromedp.Run(c, chromedp.Evaluate[bool](js))
		cancel()
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, text := where(ctx)
			t.Fatalf("browser: waited a minute for %s (%v) at %s\npage: %.600s", what, err, loc, text)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
