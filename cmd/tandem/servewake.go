package main

import (
	"context"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"

	yaml "go.yaml.in/yaml/v4"

	"github.com/tandem-dev/tandem/gateway"
	"github.com/tandem-dev/tandem/preview"
)

// idleTime is sleep_after in tandem.yaml: a duration of at least a second,
// or off (never). Zero is "not said".
type idleTime time.Duration

func (d *idleTime) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "off" || n.Value == "never" {
		*d = -1
		return nil
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil || v < time.Second {
		return fmt.Errorf("sleep_after %q: a duration of a second or more (like 30m), or off", n.Value)
	}
	*d = idleTime(v)
	return nil
}

// wakeHold is how long a request that is not a page's (an API client's,
// a form's POST) is held while its preview wakes, before it is answered
// 503 with Retry-After.
const wakeHold = 30 * time.Second

// wakeGate puts a preview that sleeps when idle behind next, its access
// gate (nil for a public preview): every request next lets through counts
// as activity, and one that finds it asleep wakes it. A browser asking for
// a page gets a small page that reloads itself until the preview answers;
// any other request is held until it does. An awake preview costs a
// request two atomic loads.
func wakeGate(in *preview.Instance, next gateway.Gate) gateway.Gate {
	return func(r *gateway.GateRequest) gateway.GateDecision {
		var d gateway.GateDecision
		if next != nil {
			if d = next(r); d.Handler != nil {
				return d // sign in first: nobody else wakes a private preview
			}
		}
		in.Touch()
		if in.Awake() {
			return d
		}
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.Contains(r.Header("Accept"), "text/html") {
			in.StartWake()
			return gateway.GateDecision{Handler: wakingPage(in.Preview)}
		}
		ctx, cancel := context.WithTimeout(context.Background(), wakeHold)
		defer cancel()
		if err := in.Wake(ctx); err != nil {
			return gateway.GateDecision{Handler: wakeFailed(in.Preview, ctx.Err() != nil)}
		}
		return d
	}
}

var wakingTemplate = template.Must(template.New("waking").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="1">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Waking {{.}}…</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:34em;margin:4em auto;padding:0 1em;color:#222}</style></head>
<body><h1>Waking {{.}}…</h1>
<p>This preview slept after a while without visitors. It is starting again, with its data as it was; this page reloads itself until it answers.</p>
</body></html>
`))

// wakingPage answers a browser while its preview wakes: 503, so nothing
// caches it, with a page that reloads itself each second.
func wakingPage(name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "text/html; charset=utf-8")
		h.Set("Cache-Control", "no-store")
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		if r.Method != http.MethodHead {
			wakingTemplate.Execute(w, name)
		}
	})
}

// wakeFailed answers a held request whose preview did not wake in time, or
// could not: its events say why.
func wakeFailed(name string, slow bool) http.Handler {
	msg := "preview " + name + " could not wake: its events say why"
	if slow {
		msg = "preview " + name + " is still waking: try again"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		h.Set("Retry-After", "5")
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"error","data":null,"error":"` + msg + `"}`))
	})
}
