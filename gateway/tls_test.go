package gateway

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tandem-dev/tandem"
)

// A renewed certificate is served without a restart; ALPN picks HTTP/2 or
// HTTP/1.1 as the client offers.
func TestTLSCertReload(t *testing.T) {
	defer func(d time.Duration) { certCheckInterval = d }(certCheckInterval)
	certCheckInterval = 0

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if _, err := writeCert(certFile, keyFile, 1); err != nil {
		t.Fatal(err)
	}
	g := New(Options{})
	g.Set(&Table{Default: &Site{Name: "x", Routes: []tandem.Route{webRoute}}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- g.ServeTLS(ln, certFile, keyFile) }()
	defer func() {
		_ = g.Shutdown(context.Background())
		<-done
	}()

	handshake := func(protos ...string) tls.ConnectionState {
		t.Helper()
		c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true, NextProtos: protos})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState()
	}
	st := handshake("h2", "http/1.1")
	if st.PeerCertificates[0].SerialNumber.Int64() != 1 || st.NegotiatedProtocol != "h2" {
		t.Fatalf("serial %v, protocol %q", st.PeerCertificates[0].SerialNumber, st.NegotiatedProtocol)
	}
	if st := handshake("http/1.1"); st.NegotiatedProtocol != "http/1.1" {
		t.Errorf("protocol %q for an HTTP/1.1 client", st.NegotiatedProtocol)
	}

	if _, err := writeCert(certFile, keyFile, 2); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Minute) // a new mtime even on a coarse clock
	for _, f := range []string{certFile, keyFile} {
		if err := os.Chtimes(f, future, future); err != nil {
			t.Fatal(err)
		}
	}
	if st := handshake("h2"); st.PeerCertificates[0].SerialNumber.Int64() != 2 {
		t.Errorf("after renewal: serial %v", st.PeerCertificates[0].SerialNumber)
	}

	// A broken pair (caught mid-rotation) keeps the last good one served.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st := handshake("h2"); st.PeerCertificates[0].SerialNumber.Int64() != 2 {
		t.Errorf("with a broken key file: serial %v", st.PeerCertificates[0].SerialNumber)
	}
}

func TestServeTLSBadFiles(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if err := New(Options{}).ServeTLS(ln, "/nonexistent/cert.pem", "/nonexistent/key.pem"); err == nil {
		t.Fatal("ServeTLS without certificate files succeeded")
	}
}

// Plain HTTP answered with a 308 to https: same host (without its port)
// and path, query included.
func TestRedirectHTTPS(t *testing.T) {
	for port, want := range map[int]string{443: "https://app.example.com/a%20b/?q=1", 8443: "https://app.example.com:8443/a%20b/?q=1"} {
		g := New(Options{})
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- g.ServeRedirect(ln, port) }()
		req, _ := http.NewRequest(http.MethodPost, "http://"+ln.Addr().String()+"/a%20b/?q=1", nil)
		req.Host = "App.Example.com:80"
		client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
			t.Errorf("port %d: %d Location %q, want 308 %q", port, res.StatusCode, res.Header.Get("Location"), want)
		}
		if err := g.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		if err := <-done; err != http.ErrServerClosed {
			t.Errorf("ServeRedirect returned %v", err)
		}
	}
}
