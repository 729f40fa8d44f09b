package audit

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/dsse"
	"golang.org/x/mod/sumdb/note"

	"github.com/tandem-dev/tandem"
)

// Where the log's key lives in the data directory. The private key is a
// signed-note signer key (golang.org/x/mod/sumdb/note, as Go's checksum
// database and C2SP witnesses use): its name is the log's origin.
const (
	KeyFile       = "audit/log.key" // PRIVATE+KEY+ORIGIN+HASH+KEY, 0600
	PublicKeyFile = "audit/log.pub" // ORIGIN+HASH+KEY: the note verifier key
)

// Key is the log's Ed25519 key. It signs checkpoints as a note signer named
// by the log's origin, and entries and bundle manifests as DSSE envelopes.
type Key struct {
	priv   ed25519.PrivateKey
	signer note.Signer
	pub    PublicKey
}

// PublicKey verifies what a Key signed.
type PublicKey struct {
	// Origin is the log's name, its checkpoints' first line; "" for a key
	// read from PEM, which has no name.
	Origin string
	Key    ed25519.PublicKey
}

// EnsureKey reads the log's key from dataDir, or makes one named origin
// (the checkpoints' origin line, such as "previews.example.com/audit")
// if there is none. A log keeps its first origin: origin is only used to
// make a key.
func EnsureKey(dataDir, origin string) (*Key, error) {
	k, err := LoadKey(dataDir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return k, err
	}
	skey, _, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "audit: log origin %q: %w", origin, err)
	}
	dir := filepath.Join(dataDir, filepath.Dir(KeyFile))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, err
	}
	// Written whole, then linked into place: never an empty key, and of two
	// servers racing on a new directory one key wins.
	if err := writeNew(filepath.Join(dataDir, KeyFile), skey+"\n", 0o600); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err
	}
	if k, err = LoadKey(dataDir); err != nil {
		return nil, err
	}
	vkey, err := k.pub.VerifierKey(k.Origin())
	if err != nil {
		return nil, err
	}
	return k, writeNew(filepath.Join(dataDir, PublicKeyFile), vkey+"\n", 0o644)
}

// writeNew writes a file that must not exist yet, whole or not at all.
func writeNew(path, content string, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.WriteString(content); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if mode&0o077 == 0 {
		return os.Link(tmp.Name(), path) // fails if it exists
	}
	return os.Rename(tmp.Name(), path)
}

// LoadKey reads the log's key from dataDir: fs.ErrNotExist if there is none.
func LoadKey(dataDir string) (*Key, error) {
	path := filepath.Join(dataDir, KeyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		return nil, err
	}
	k, err := parseKey(strings.TrimSpace(string(b)))
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", path, err)
	}
	return k, nil
}

// parseKey reads a note signer key: PRIVATE+KEY+NAME+HASH+BASE64, where
// BASE64 is the algorithm byte (1: Ed25519) and the key's seed.
func parseKey(skey string) (*Key, error) {
	signer, err := note.NewSigner(skey)
	if err != nil {
		return nil, errors.New("not a signed-note signer key")
	}
	// Names hold no '+'; base64 may.
	parts := strings.SplitN(strings.TrimPrefix(skey, "PRIVATE+KEY+"), "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.SeedSize || raw[0] != 1 {
		return nil, errors.New("not an Ed25519 signed-note signer key")
	}
	priv := ed25519.NewKeyFromSeed(raw[1:])
	return &Key{priv: priv, signer: signer, pub: PublicKey{Origin: signer.Name(), Key: priv.Public().(ed25519.PublicKey)}}, nil
}

// Origin is the log's name.
func (k *Key) Origin() string { return k.pub.Origin }

// Public returns the key that verifies k's signatures.
func (k *Key) Public() PublicKey { return k.pub }

// ParsePublicKey reads a public key as a note verifier key
// (ORIGIN+HASH+BASE64) or as PEM (PKIX, "PUBLIC KEY").
func ParsePublicKey(b []byte) (PublicKey, error) {
	s := strings.TrimSpace(string(b))
	if blk, _ := pem.Decode([]byte(s)); blk != nil {
		if blk.Type != "PUBLIC KEY" {
			return PublicKey{}, tandem.Errorf(tandem.EINVALID, "a PEM %q block, not a PUBLIC KEY", blk.Type)
		}
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return PublicKey{}, tandem.Errorf(tandem.EINVALID, "public key: %w", err)
		}
		ek, ok := k.(ed25519.PublicKey)
		if !ok {
			return PublicKey{}, tandem.Errorf(tandem.EINVALID, "public key: %T, not Ed25519", k)
		}
		return PublicKey{Key: ek}, nil
	}
	v, err := note.NewVerifier(s)
	if err != nil {
		return PublicKey{}, tandem.Errorf(tandem.EINVALID, "neither a note verifier key (ORIGIN+HASH+KEY) nor a PEM public key")
	}
	parts := strings.SplitN(s, "+", 3)
	raw, err := base64.StdEncoding.DecodeString(parts[len(parts)-1])
	if err != nil || len(raw) != 1+ed25519.PublicKeySize || raw[0] != 1 {
		return PublicKey{}, tandem.Errorf(tandem.EINVALID, "not an Ed25519 note verifier key")
	}
	return PublicKey{Origin: v.Name(), Key: ed25519.PublicKey(raw[1:])}, nil
}

// Equal reports whether p and q are the same key (names aside).
func (p PublicKey) Equal(q PublicKey) bool { return p.Key.Equal(q.Key) }

// VerifierKey is the key as a note verifier key, named origin.
func (p PublicKey) VerifierKey(origin string) (string, error) {
	return note.NewEd25519VerifierKey(origin, p.Key)
}

// NoteVerifier checks checkpoints of the log called origin.
func (p PublicKey) NoteVerifier(origin string) (note.Verifier, error) {
	vkey, err := p.VerifierKey(origin)
	if err != nil {
		return nil, tandem.Errorf(tandem.EINVALID, "origin %q: %w", origin, err)
	}
	return note.NewVerifier(vkey)
}

// PEM is the key as PKIX PEM, as openssl and DSSE tools read it.
func (p PublicKey) PEM() []byte {
	der, _ := x509.MarshalPKIXPublicKey(p.Key)
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// KeyID names the key in DSSE signatures: the hex SHA-256 of its PKIX DER.
func (p PublicKey) KeyID() string {
	der, _ := x509.MarshalPKIXPublicKey(p.Key)
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// DSSE: the key as the envelope library's Signer and Verifier.

type dsseSigner struct{ k *Key }

func (s dsseSigner) Sign(_ context.Context, data []byte) ([]byte, error) {
	return ed25519.Sign(s.k.priv, data), nil
}
func (s dsseSigner) KeyID() (string, error) { return s.k.pub.KeyID(), nil }

type dsseVerifier struct{ p PublicKey }

func (v dsseVerifier) Verify(_ context.Context, data, sig []byte) error {
	if !ed25519.Verify(v.p.Key, data, sig) {
		return errors.New("ed25519: bad signature")
	}
	return nil
}
func (v dsseVerifier) KeyID() (string, error)   { return v.p.KeyID(), nil }
func (v dsseVerifier) Public() crypto.PublicKey { return v.p.Key }

// sign makes a DSSE envelope of body, signed by k, as compact JSON.
func (k *Key) sign(payloadType string, body []byte) (*dsse.Envelope, error) {
	es, err := dsse.NewEnvelopeSigner(dsseSigner{k})
	if err != nil {
		return nil, err
	}
	return es.SignPayload(context.Background(), payloadType, body)
}

// openEnvelope checks env's signature by p and returns its payload. The
// log signs with one key, once: an envelope with more signatures was
// changed (and the library would print about duplicates on stdout).
func openEnvelope(p PublicKey, env *dsse.Envelope) ([]byte, error) {
	if len(env.Signatures) != 1 {
		return nil, fmt.Errorf("%d signatures: the log signs once", len(env.Signatures))
	}
	ev, err := dsse.NewEnvelopeVerifier(dsseVerifier{p})
	if err != nil {
		return nil, err
	}
	_, body, err := ev.VerifyAndDecode(context.Background(), env)
	if err != nil {
		return nil, err
	}
	// DSSE decoders accept URL-safe base64 too; the log writes standard.
	if !bytes.Equal([]byte(base64.StdEncoding.EncodeToString(body)), []byte(env.Payload)) {
		return nil, errors.New("payload is not in standard base64")
	}
	return body, nil
}
