// Package seal keeps Gatehouse's secrets at rest: files of 32-byte keys and
// AES-256-GCM sealing under them. The server's Digest/cache secret
// (secret.key), its session cookie keys (session.keys) and the job store's
// credential key (jobs.db.key) are all such files.
//
// A key file holds one key per line, base64 (standard alphabet); blank
// lines and lines starting with # are ignored; the first key seals, every
// key opens, so a key is rotated by putting a new one on the first line.
// Two older encodings are still read: a line of 64 hex digits (the job
// store's key files) and a file of raw bytes, at least 32 (secret.key).
//
// It is not a key-management system: no derivation, no wrapping, no
// remote store.
package seal

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"unicode/utf8"
)

// KeySize is the size of every key: AES-256.
const KeySize = 32

// ErrOpen is returned by Open for a sealed value no key opens (tampered,
// truncated, moved to other associated data, or sealed under a key that
// is no longer in the file).
var ErrOpen = errors.New("seal: the sealed value does not open with these keys")

// LoadKeys reads the key file at path; when it does not exist it is
// created (mode 0600, exclusive) with one fresh key.
func LoadKeys(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		k := make([]byte, KeySize)
		if _, err := rand.Read(k); err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadKeys(path) // another process made it first
		}
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		_, err = f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		return [][]byte{k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return ParseKeys(b, path)
}

// ParseKeys decodes the contents of a key file; name is used in errors.
func ParseKeys(b []byte, name string) ([][]byte, error) {
	if !utf8.Valid(b) || bytes.IndexByte(b, 0) >= 0 {
		// raw bytes, as secret.key was first written
		if len(b) < KeySize {
			return nil, fmt.Errorf("seal: %s is shorter than %d bytes; delete it to make a new one", name, KeySize)
		}
		return [][]byte{b}, nil
	}
	var keys [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		k, err := base64.StdEncoding.DecodeString(string(line))
		if err != nil || len(k) != KeySize {
			if k, err = hex.DecodeString(string(line)); err != nil || len(k) != KeySize {
				if len(b) == KeySize {
					// raw bytes that happen to be printable
					return [][]byte{b}, nil
				}
				return nil, fmt.Errorf("seal: %s line %d: want a base64 (or hex) %d-byte key", name, n, KeySize)
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("seal: %s holds no key", name)
	}
	return keys, nil
}

// Sealer seals with the first key and opens with any.
type Sealer struct {
	aeads []cipher.AEAD
}

// New returns a Sealer for keys (each KeySize bytes, the first seals).
func New(keys [][]byte) (*Sealer, error) {
	s := &Sealer{}
	for i, k := range keys {
		if len(k) != KeySize {
			return nil, fmt.Errorf("seal: key %d is %d bytes, want %d", i, len(k), KeySize)
		}
		block, err := aes.NewCipher(k)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		a, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("seal: %w", err)
		}
		s.aeads = append(s.aeads, a)
	}
	if len(s.aeads) == 0 {
		return nil, errors.New("seal: no key")
	}
	return s, nil
}

// Seal encrypts and authenticates plaintext, binding it to ad: a random
// nonce followed by the ciphertext and tag.
func (s *Sealer) Seal(plaintext, ad []byte) ([]byte, error) {
	a := s.aeads[0]
	nonce := make([]byte, a.NonceSize(), a.NonceSize()+len(plaintext)+a.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("seal: %w", err)
	}
	return a.Seal(nonce, nonce, plaintext, ad), nil
}

// Open returns the plaintext of a value Seal made with the same ad under
// any of the keys, or ErrOpen.
func (s *Sealer) Open(sealed, ad []byte) ([]byte, error) {
	for _, a := range s.aeads {
		n := a.NonceSize()
		if len(sealed) < n+a.Overhead() {
			return nil, ErrOpen
		}
		if pt, err := a.Open(nil, sealed[:n], sealed[n:], ad); err == nil {
			return pt, nil
		}
	}
	return nil, ErrOpen
}
