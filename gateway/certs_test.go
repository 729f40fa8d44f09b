package gateway

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The tests' certificate: self-signed, for 127.0.0.1, localhost and a
// wildcard preview domain, as tandem serve would have.
var testCert struct {
	once      sync.Once
	dir       string
	cert, key string
	pool      *x509.CertPool
	err       error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if testCert.dir != "" {
		os.RemoveAll(testCert.dir)
	}
	os.Exit(code)
}

// testCertFiles returns the paths of the shared test certificate and key.
func testCertFiles(t testing.TB) (string, string) {
	t.Helper()
	testCert.once.Do(func() {
		testCert.dir, testCert.err = os.MkdirTemp("", "gateway-tls")
		if testCert.err != nil {
			return
		}
		testCert.cert = filepath.Join(testCert.dir, "cert.pem")
		testCert.key = filepath.Join(testCert.dir, "key.pem")
		var der []byte
		der, testCert.err = writeCert(testCert.cert, testCert.key, 1)
		if testCert.err == nil {
			c, _ := x509.ParseCertificate(der)
			testCert.pool = x509.NewCertPool()
			testCert.pool.AddCert(c)
		}
	})
	if testCert.err != nil {
		t.Fatal(testCert.err)
	}
	return testCert.cert, testCert.key
}

// writeCert writes a new self-signed pair with the given serial number
// and returns its DER.
func writeCert(certFile, keyFile string, serial int64) ([]byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: "tandem test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost", "gateway.test", "*.previews.example.com"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	return der, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
}

// testClientTLS trusts the test certificate.
func testClientTLS() *tls.Config {
	testCertFiles(nopTB{})
	return &tls.Config{RootCAs: testCert.pool}
}

// nopTB lets testClientTLS make the certificate outside a test's Fatal.
type nopTB struct{ testing.TB }

func (nopTB) Helper()           {}
func (nopTB) Fatal(args ...any) { panic(args) }
