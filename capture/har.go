package capture

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/network"
)

// maxQuiet bounds the wait for a page to be quiet: one that polls or
// streams for ever is captured as it is then.
const maxQuiet = 15 * time.Second

// recorder keeps the page load's HTTP exchanges from the Network domain's
// events, in the order they came, and counts those still under way.
type recorder struct {
	origin string

	mu        sync.Mutex
	exchanges []*exchange
	current   map[network.RequestID]*exchange
	inflight  int
	last      time.Time // when a request last started or ended
	blocked   []string
	secrets   []string // values never written into the HAR
}

// exchange is one request and its response (a redirect ends one, and its
// next hop is another).
type exchange struct {
	req      *network.Request
	started  time.Time // wall clock
	startTS  float64   // the browser's monotonic seconds
	endTS    float64
	resp     *network.Response
	raw      network.Headers // the response's headers as received, Set-Cookie included
	bodySize float64
	done     bool
	errText  string
}

func newRecorder(origin string) *recorder {
	return &recorder{origin: origin, current: map[network.RequestID]*exchange{}, last: time.Now()}
}

// event is chromedp.Listen's callback: it runs on the browser's reading
// goroutine, so it only records.
func (r *recorder) event(ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch ev := ev.(type) {
	case *network.EventRequestWillBeSent:
		if prev := r.current[ev.RequestID]; prev != nil && ev.RedirectResponse != nil {
			prev.resp = ev.RedirectResponse
			r.finish(prev, float64(ev.Timestamp), "")
		}
		x := &exchange{req: ev.Request, started: time.Unix(0, int64(float64(ev.WallTime)*1e9)).UTC(), startTS: float64(ev.Timestamp)}
		if ev.WallTime == 0 {
			x.started = time.Now().UTC()
		}
		r.exchanges = append(r.exchanges, x)
		r.current[ev.RequestID] = x
		r.inflight++
		r.last = time.Now()
	case *network.EventResponseReceived:
		if x := r.current[ev.RequestID]; x != nil {
			x.resp = ev.Response
		}
	case *network.EventResponseReceivedExtraInfo:
		if x := r.current[ev.RequestID]; x != nil {
			x.raw = ev.Headers
		}
	case *network.EventLoadingFinished:
		if x := r.current[ev.RequestID]; x != nil {
			x.bodySize = ev.EncodedDataLength
			r.finish(x, float64(ev.Timestamp), "")
		}
	case *network.EventLoadingFailed:
		if x := r.current[ev.RequestID]; x != nil {
			r.finish(x, float64(ev.Timestamp), ev.ErrorText)
		}
	}
}

func (r *recorder) finish(x *exchange, ts float64, errText string) {
	if x.done {
		return
	}
	x.done, x.endTS, x.errText = true, ts, errText
	r.inflight--
	r.last = time.Now()
}

// allowed reports whether a request may leave the browser: to the page's
// own origin, over http(s) or its WebSocket schemes.
func (r *recorder) allowed(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "http", "https":
	case "ws":
		u.Scheme = "http"
	case "wss":
		u.Scheme = "https"
	default:
		return false
	}
	return origin(u) == r.origin
}

func (r *recorder) block(raw string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.blocked) < 100 {
		r.blocked = append(r.blocked, redactURL(raw))
	}
}

func (r *recorder) blockedURLs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.blocked...)
}

func (r *recorder) secret(v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if v != "" {
		r.secrets = append(r.secrets, v)
	}
}

// quiet waits until no request is under way and none started or ended
// for d, or maxQuiet passed.
func (r *recorder) quiet(ctx context.Context, d time.Duration) error {
	deadline := time.Now().Add(maxQuiet)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		r.mu.Lock()
		idle := r.inflight <= 0 && time.Since(r.last) >= d
		r.mu.Unlock()
		if idle || time.Now().After(deadline) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// HAR 1.2 (http://www.softwareishard.com/blog/har-12-spec/), as much of it
// as the Network domain tells: no bodies, which may hold personal data.
type (
	harFile struct {
		Log harLog `json:"log"`
	}
	harLog struct {
		Version string     `json:"version"`
		Creator harCreator `json:"creator"`
		Browser harCreator `json:"browser"`
		Pages   []harPage  `json:"pages"`
		Entries []harEntry `json:"entries"`
	}
	harCreator struct {
		Name    string `json:"name"`
		Version string `json:"version"`
	}
	harPage struct {
		StartedDateTime string         `json:"startedDateTime"`
		ID              string         `json:"id"`
		Title           string         `json:"title"`
		PageTimings     map[string]int `json:"pageTimings"`
	}
	harEntry struct {
		Pageref         string      `json:"pageref"`
		StartedDateTime string      `json:"startedDateTime"`
		Time            float64     `json:"time"`
		Request         harRequest  `json:"request"`
		Response        harResponse `json:"response"`
		Cache           struct{}    `json:"cache"`
		Timings         harTimings  `json:"timings"`
		ServerIPAddress string      `json:"serverIPAddress,omitempty"`
		Comment         string      `json:"comment,omitempty"`
	}
	harRequest struct {
		Method      string    `json:"method"`
		URL         string    `json:"url"`
		HTTPVersion string    `json:"httpVersion"`
		Cookies     []harPair `json:"cookies"`
		Headers     []harPair `json:"headers"`
		QueryString []harPair `json:"queryString"`
		HeadersSize int       `json:"headersSize"`
		BodySize    int       `json:"bodySize"`
	}
	harResponse struct {
		Status      int64      `json:"status"`
		StatusText  string     `json:"statusText"`
		HTTPVersion string     `json:"httpVersion"`
		Cookies     []harPair  `json:"cookies"`
		Headers     []harPair  `json:"headers"`
		Content     harContent `json:"content"`
		RedirectURL string     `json:"redirectURL"`
		HeadersSize int        `json:"headersSize"`
		BodySize    int64      `json:"bodySize"`
	}
	harContent struct {
		Size     int64  `json:"size"`
		MimeType string `json:"mimeType"`
	}
	harPair struct {
		Name  string `json:"name"`
		Value string `json:"value"`
	}
	harTimings struct {
		Blocked float64 `json:"blocked"`
		DNS     float64 `json:"dns"`
		Connect float64 `json:"connect"`
		Send    float64 `json:"send"`
		Wait    float64 `json:"wait"`
		Receive float64 `json:"receive"`
	}
)

const redacted = "[redacted]"

// har writes the exchanges as HAR 1.2 and says how many there are.
func (r *recorder) har(browser string) ([]byte, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	name, version, _ := strings.Cut(browser, "/")
	f := harFile{Log: harLog{Version: "1.2", Creator: harCreator{Name: "tandem", Version: "1"},
		Browser: harCreator{Name: name, Version: version}, Pages: []harPage{}, Entries: []harEntry{}}}
	for _, x := range r.exchanges {
		f.Log.Entries = append(f.Log.Entries, r.entry(x))
	}
	if len(r.exchanges) > 0 {
		f.Log.Pages = append(f.Log.Pages, harPage{StartedDateTime: stamp(r.exchanges[0].started), ID: "page_1",
			Title: redactURL(r.exchanges[0].req.URL), PageTimings: map[string]int{"onContentLoad": -1, "onLoad": -1}})
	}
	b, _ := json.MarshalIndent(f, "", " ")
	return append(b, '\n'), len(f.Log.Entries)
}

func stamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

func (r *recorder) entry(x *exchange) harEntry {
	e := harEntry{Pageref: "page_1", StartedDateTime: stamp(x.started)}
	e.Request = harRequest{Method: x.req.Method, URL: r.scrub(x.req.URL), HTTPVersion: "HTTP/1.1",
		Cookies: []harPair{}, Headers: r.headers(x.req.Headers), QueryString: query(r.scrub(x.req.URL)), HeadersSize: -1, BodySize: 0}
	if x.req.HasPostData {
		e.Request.BodySize = -1
	}
	e.Response = harResponse{HTTPVersion: "HTTP/1.1", Cookies: []harPair{}, Headers: []harPair{}, HeadersSize: -1, BodySize: -1}
	e.Timings = harTimings{Blocked: -1, DNS: -1, Connect: -1}
	switch {
	case x.errText != "":
		e.Comment = "failed: " + x.errText
	case !x.done:
		e.Comment = "still loading when the page was captured"
	}
	if x.resp == nil {
		return e
	}
	res := x.resp
	e.Response.Status, e.Response.StatusText = res.Status, res.StatusText
	if res.Protocol != "" {
		e.Request.HTTPVersion, e.Response.HTTPVersion = strings.ToUpper(res.Protocol), strings.ToUpper(res.Protocol)
	}
	headers := res.Headers
	if x.raw != nil {
		headers = x.raw
	}
	e.Response.Headers = r.headers(headers)
	for name, v := range headers {
		switch strings.ToLower(name) {
		case "location":
			e.Response.RedirectURL = r.scrub(fmt.Sprint(v))
		case "set-cookie":
			e.Response.Cookies = append(e.Response.Cookies, setCookieNames(fmt.Sprint(v))...)
		}
	}
	e.Response.Content = harContent{Size: int64(x.bodySize), MimeType: res.MimeType}
	if x.done && x.errText == "" {
		e.Response.BodySize = int64(x.bodySize)
	}
	if res.RemoteIPAddress != "" {
		e.ServerIPAddress = res.RemoteIPAddress
	}
	if t := res.Timing; t != nil {
		e.Timings.Send = max(0, t.SendEnd-t.SendStart)
		e.Timings.Wait = max(0, t.ReceiveHeadersEnd-t.SendEnd)
		if x.endTS > 0 {
			e.Timings.Receive = max(0, (x.endTS-t.RequestTime)*1000-t.ReceiveHeadersEnd)
		}
		e.Time = e.Timings.Send + e.Timings.Wait + e.Timings.Receive
	}
	return e
}

// headers are sorted name/value pairs; the values of cookies and
// credentials, and any secret the capture was given, are redacted.
func (r *recorder) headers(h network.Headers) []harPair {
	out := make([]harPair, 0, len(h))
	for name, v := range h {
		value := fmt.Sprint(v)
		switch strings.ToLower(name) {
		case "cookie", "authorization", "proxy-authorization", "x-tandem-bypass":
			value = redacted
		case "set-cookie":
			var lines []string
			for _, c := range strings.Split(value, "\n") {
				n, rest, _ := strings.Cut(c, "=")
				_, attrs, _ := strings.Cut(rest, ";")
				lines = append(lines, strings.TrimSpace(n)+"="+redacted+";"+attrs)
			}
			value = strings.Join(lines, "\n")
		}
		out = append(out, harPair{Name: name, Value: r.scrub(value)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// scrub replaces the secrets the capture was given wherever they appear.
func (r *recorder) scrub(s string) string {
	for _, v := range r.secrets {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

func setCookieNames(v string) []harPair {
	var out []harPair
	for _, c := range strings.Split(v, "\n") {
		if n, _, ok := strings.Cut(c, "="); ok {
			out = append(out, harPair{Name: strings.TrimSpace(n), Value: redacted})
		}
	}
	return out
}

func query(raw string) []harPair {
	out := []harPair{}
	u, err := url.Parse(raw)
	if err != nil {
		return out
	}
	q := u.Query()
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range q[k] {
			out = append(out, harPair{Name: k, Value: v})
		}
	}
	return out
}

// redactURL drops what a URL may carry as credentials.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(not a URL)"
	}
	u.User = nil
	return u.String()
}
