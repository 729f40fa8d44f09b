package gateway

import (
	"crypto/tls"
	"fmt"
	"os"
	"sync"
	"time"
)

// certCheckInterval is how often, at most, the certificate files are
// looked at for a change: a renewed wildcard certificate is picked up
// without a restart.
var certCheckInterval = 5 * time.Second

// certReloader serves a certificate and key pair from files, re-read when
// either changes on disk.
type certReloader struct {
	certFile, keyFile string
	warn              func(msg string, args ...any)

	mu      sync.Mutex
	cert    *tls.Certificate
	stamp   [2]fileStamp
	checked time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newCertReloader(certFile, keyFile string, warn func(string, ...any)) (*certReloader, error) {
	r := &certReloader{certFile: certFile, keyFile: keyFile, warn: warn}
	if err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *certReloader) stamps() ([2]fileStamp, error) {
	var st [2]fileStamp
	for i, f := range [2]string{r.certFile, r.keyFile} {
		fi, err := os.Stat(f)
		if err != nil {
			return st, err
		}
		st[i] = fileStamp{fi.ModTime(), fi.Size()}
	}
	return st, nil
}

// load reads the pair; r.mu is held or r is new.
func (r *certReloader) load() error {
	st, err := r.stamps()
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate: %w", err)
	}
	r.cert, r.stamp, r.checked = &cert, st, time.Now()
	return nil
}

// get is tls.Config.GetCertificate.
func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= certCheckInterval {
		r.checked = time.Now()
		if st, err := r.stamps(); err == nil && st != r.stamp {
			// A pair caught halfway through a rotation fails to load: keep
			// serving the old one and try again at the next check.
			if err := r.load(); err != nil {
				r.warn("keeping the previous certificate", "error", err)
			}
		}
	}
	return r.cert, nil
}
