// Package capture takes a page's evidence in headless Chromium (chromedp):
// a full-page PNG, the HTTP exchanges of its load as HAR 1.2, and the text
// it rendered. Each capture runs a browser of its own, with a fresh
// profile, that reaches the page's own origin and nothing else: the page
// is a pull request's code, and the browser runs on tandem's server.
package capture

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/tandem-dev/tandem"
)

// chromiums are where Debian's packages install Chromium: the headless
// shell (chromium-headless-shell, made for this) first, then the browser.
var chromiums = []string{"/usr/lib/chromium/chromium-headless-shell", "/usr/bin/chromium-headless-shell", "/usr/lib/chromium/chromium", "/usr/bin/chromium"}

// FindChromium returns the first Chromium installed where Debian puts it,
// else "chromium" or "chromium-headless-shell" on PATH, else "".
func FindChromium() string {
	for _, p := range chromiums {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	for _, name := range []string{"chromium-headless-shell", "chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// Browser starts Chromium to capture pages.
type Browser struct {
	Path    string        // Chromium's binary; FindChromium's if empty
	Timeout time.Duration // for one capture, from start to screenshot; default 90s
	// Quiet is how long the page must make no request before it counts as
	// loaded, after its load event; default 500ms.
	Quiet time.Duration
}

// Page is what to capture.
type Page struct {
	URL string // http(s)://HOST[:PORT]/path?query
	// Resolve is where the URL's host is reached ("127.0.0.1:8080": the
	// gateway); empty: as DNS says.
	Resolve string
	// Cookies are set for the URL's host before the page loads: a
	// reviewer's session with the gate. Their values never reach the HAR.
	Cookies  []*http.Cookie
	Viewport tandem.Viewport // zero: tandem.DefaultViewport
}

// Result is what a capture took.
type Result struct {
	PNG    []byte // full page
	HAR    []byte // HAR 1.2, JSON; cookie and authorization values redacted
	Text   string // document.body.innerText once loaded
	Title  string
	URL    string // where the page ended, after redirects
	Status int    // of the page's own response
	// Exchanges counts the HAR's entries; Blocked lists the requests to
	// other origins that were refused.
	Exchanges int
	Blocked   []string
}

// Capture loads p in a new browser and takes its evidence. A page that
// does not answer 2xx is still captured: what a reviewer saw is evidence
// too; Status says what it was.
func (b *Browser) Capture(ctx context.Context, p Page) (*Result, error) {
	u, err := url.Parse(p.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return nil, tandem.Errorf(tandem.EINVALID, "capture: %q is not an http(s) URL", p.URL)
	}
	if p.Viewport.Width == 0 {
		p.Viewport = tandem.DefaultViewport
	}
	timeout := b.Timeout
	if timeout == 0 {
		timeout = 90 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := os.Stat(b.path()); err != nil {
		return nil, tandem.Errorf(tandem.EUNSUPPORTED, "capture: no Chromium at %s (tandem.yaml review.chromium): %w", b.path(), err)
	}
	profile, err := os.MkdirTemp("", "tandem-capture-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(profile)

	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx, b.flags(u, p, profile)...)
	defer cancelAlloc()
	tab, cancelTab := chromedp.NewContext(alloc)
	defer cancelTab()
	if err := chromedp.Do(tab); err != nil {
		return nil, b.failed("start", err)
	}
	rec := newRecorder(origin(u))
	if err := chromedp.Listen(tab, rec.event); err != nil {
		return nil, b.failed("listen", err)
	}
	stopGuard, err := guard(tab, rec)
	if err != nil {
		return nil, b.failed("guard the origin", err)
	}
	defer stopGuard()
	res, err := b.load(tab, u, p, rec)
	if err != nil {
		return nil, err
	}
	res.HAR, res.Exchanges = rec.har(chromiumVersion(tab))
	res.Blocked = rec.blockedURLs()
	return res, nil
}

// flags are Chromium's: headless, no sandbox (tandem serve runs as root),
// nothing in the background, a window of the viewport's size, and the
// page's host resolving where Resolve says while every other name fails.
func (b *Browser) flags(u *url.URL, p Page, profile string) []chromedp.ExecAllocatorOption {
	rules := "MAP * ~NOTFOUND"
	if p.Resolve != "" {
		rules = fmt.Sprintf("MAP %s %s, %s", u.Hostname(), p.Resolve, rules)
	} else {
		rules = fmt.Sprintf("EXCLUDE %s, %s", u.Hostname(), rules)
	}
	return append(Headless(b.path(), profile),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("mute-audio", true),
		chromedp.Flag("host-resolver-rules", rules),
		chromedp.WindowSize(p.Viewport.Width, p.Viewport.Height),
	)
}

// Headless is how tandem starts Chromium at path with the profile
// directory given: headless, no sandbox (tandem serve runs as root),
// nothing in the background, and plain http kept plain (a preview's host
// may be http on a port of its own).
func Headless(path, profile string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(profile),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable,Translate,MediaRouter,OptimizationHints"),
	}
}

// origin is scheme://host:port, the port always written.
func origin(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return u.Scheme + "://" + net.JoinHostPort(strings.ToLower(u.Hostname()), port)
}

// guard lets through the requests to the page's own origin and fails every
// other, as the browser is about to send it: names the resolver rules do
// not catch (addresses written as such, other ports) included.
func guard(tab context.Context, rec *recorder) (func(), error) {
	// The subscription ends with ctx, so that stop ends the loop.
	ctx, stop := context.WithCancel(tab)
	paused := chromedp.Events(ctx, fetch.RequestPaused)
	if _, err := chromedp.Call(tab, fetch.Enable, fetch.EnableParams{}); err != nil {
		stop()
		return nil, err
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		for ev, err := range paused {
			if err != nil {
				return
			}
			if rec.allowed(ev.Request.URL) {
				chromedp.Call(ctx, fetch.ContinueRequest, fetch.ContinueRequestParams{RequestID: ev.RequestID})
				continue
			}
			rec.block(ev.Request.URL)
			chromedp.Call(ctx, fetch.FailRequest, fetch.FailRequestParams{RequestID: ev.RequestID, ErrorReason: network.ErrorReasonBlockedByClient})
		}
	})
	return func() { stop(); wg.Wait() }, nil
}

// load sets the cookies, loads the page, waits until it is quiet, and
// takes its text and its picture.
func (b *Browser) load(tab context.Context, u *url.URL, p Page, rec *recorder) (*Result, error) {
	for _, c := range p.Cookies {
		secure, httpOnly := c.Secure, c.HttpOnly
		_, err := chromedp.Call(tab, network.SetCookie, network.SetCookieParams{
			Name: c.Name, Value: c.Value, URL: origin(u) + "/", Path: "/",
			Secure: &secure, HTTPOnly: &httpOnly, SameSite: network.CookieSameSiteLax,
		})
		if err != nil {
			return nil, b.failed("set the session", err)
		}
		rec.secret(c.Value)
	}
	resp, err := chromedp.Run(tab, chromedp.NavigateResponse(p.URL))
	if err != nil {
		return nil, b.failed("load "+p.URL, err)
	}
	if err := rec.quiet(tab, b.quiet()); err != nil {
		return nil, b.failed("wait for "+p.URL, err)
	}
	res := &Result{URL: p.URL}
	if resp != nil {
		res.Status, res.URL = int(resp.Status), resp.URL
	}
	if res.Text, err = chromedp.Run(tab, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`)); err != nil {
		return nil, b.failed("read the page's text", err)
	}
	if res.Title, err = chromedp.Run(tab, chromedp.Title()); err != nil {
		return nil, b.failed("read the page's title", err)
	}
	if res.PNG, err = chromedp.Run(tab, chromedp.FullScreenshot(100)); err != nil {
		return nil, b.failed("take the screenshot", err)
	}
	return res, nil
}

func (b *Browser) path() string {
	if b.Path != "" {
		return b.Path
	}
	if p := FindChromium(); p != "" {
		return p
	}
	return "chromium"
}

func (b *Browser) quiet() time.Duration {
	if b.Quiet > 0 {
		return b.Quiet
	}
	return 500 * time.Millisecond
}

// failed says what step of a capture failed: a page that never loads is
// the preview's problem, a browser that does not start the server's.
func (b *Browser) failed(step string, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return tandem.Errorf(tandem.ETIMEOUT, "capture: %s: not done in time: %w", step, err)
	}
	return tandem.Errorf(tandem.EUNAVAILABLE, "capture: %s: %w", step, err)
}

// chromiumVersion is the browser's product and version, for the HAR.
func chromiumVersion(tab context.Context) string {
	v, err := chromedp.CallBrowser(tab, browser.GetVersion, cdp.Empty{})
	if err != nil {
		return ""
	}
	return v.Product
}
