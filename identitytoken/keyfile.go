package identitytoken

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"
)

// Key files are PEM: one or more EC P-256 private keys ("EC PRIVATE KEY",
// SEC 1, as `openssl ecparam -genkey` writes, or "PRIVATE KEY", PKCS #8).
// The first key signs; every key is published in the JWKS. A key whose
// block carries a "Retire-After: <RFC 3339 time>" header is published
// until then and dropped from the set afterwards: Rotate writes that
// header on the key it replaces, one token lifetime ahead, so tokens it
// signed keep verifying until they expire.

// RetireHeader is the PEM header that bounds how long a retired key is
// published.
const RetireHeader = "Retire-After"

// maxKeyFile bounds the key file read: a few keys fit in a few KiB.
const maxKeyFile = 1 << 20

// ParseKeys reads the PEM key file format, dropping keys retired before
// now. The first key returned signs.
func ParseKeys(b []byte, now time.Time) ([]*ecdsa.PrivateKey, error) {
	var keys []*ecdsa.PrivateKey
	for n := 1; ; n++ {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		k, err := parseKey(blk)
		if err != nil {
			return nil, fmt.Errorf("%w: PEM block %d: %v", ErrKey, n, err)
		}
		if ra, ok := blk.Headers[RetireHeader]; ok {
			t, err := time.Parse(time.RFC3339, ra)
			if err != nil {
				return nil, fmt.Errorf("%w: PEM block %d: %s: %v", ErrKey, n, RetireHeader, err)
			}
			if now.After(t) {
				continue
			}
		}
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("%w: no EC P-256 private key in PEM form", ErrKey)
	}
	return keys, nil
}

func parseKey(blk *pem.Block) (*ecdsa.PrivateKey, error) {
	var k any
	var err error
	switch blk.Type {
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(blk.Bytes)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("block type %q is not a private key", blk.Type)
	}
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, errors.New("not an EC P-256 key (ES256 needs one)")
	}
	return ek, nil
}

// LoadKeys reads a key file someone provides (identity_token.key).
func LoadKeys(path string) ([]*ecdsa.PrivateKey, error) {
	b, err := readKeyFile(path)
	if err != nil {
		return nil, err
	}
	keys, err := ParseKeys(b, time.Now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return keys, nil
}

// LoadOrCreate reads the key file Gatehouse keeps in its state directory,
// creating it (mode 0600, one fresh key) when missing. A file that group
// or others can read is refused: the key signs identities.
func LoadOrCreate(path string) ([]*ecdsa.PrivateKey, error) {
	st, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, fmt.Errorf("identitytoken: %w", err)
		}
		b, err := marshalKey(k, nil)
		if err != nil {
			return nil, err
		}
		if err := writeFile(path, b); err != nil {
			return nil, err
		}
		return []*ecdsa.PrivateKey{k}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("identitytoken: %w", err)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s is readable by group or others (mode %v); chmod 600 it", ErrKey, path, st.Mode().Perm())
	}
	return LoadKeys(path)
}

// Rotate puts a fresh key first in the key file at path (created if
// missing). The key that signed until now is kept, marked to be retired
// after lifetime (the longest a token it signed can still be valid) plus a
// minute for clock differences; keys already past their retirement are
// removed. It returns the new key's kid. Running servers pick the new key
// up when they reload.
func Rotate(path string, lifetime time.Duration, now time.Time) (string, error) {
	var out []byte
	if b, err := readKeyFile(path); err == nil {
		retire := now.Add(lifetime + time.Minute).UTC().Format(time.RFC3339)
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				break
			}
			if _, err := parseKey(blk); err != nil {
				return "", fmt.Errorf("%w: %s: %v", ErrKey, path, err)
			}
			h := map[string]string{}
			for k, v := range blk.Headers {
				h[k] = v
			}
			if ra, ok := h[RetireHeader]; ok {
				if t, err := time.Parse(time.RFC3339, ra); err != nil || now.After(t) {
					continue
				}
			} else {
				// the key that signed (or any other unretired one): the
				// new key signs from now on
				h[RetireHeader] = retire
			}
			blk.Headers = h
			out = append(out, pem.EncodeToMemory(blk)...)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("identitytoken: %w", err)
	}
	nb, err := marshalKey(k, nil)
	if err != nil {
		return "", err
	}
	if err := writeFile(path, append(nb, out...)); err != nil {
		return "", err
	}
	return KeyID(&k.PublicKey)
}

func marshalKey(k *ecdsa.PrivateKey, headers map[string]string) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("identitytoken: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Headers: headers, Bytes: der}), nil
}

func readKeyFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("identitytoken: %w", err)
	}
	defer f.Close()
	b := make([]byte, maxKeyFile+1)
	n, err := readFull(f, b)
	if err != nil {
		return nil, fmt.Errorf("identitytoken: %s: %w", path, err)
	}
	if n > maxKeyFile {
		return nil, fmt.Errorf("%w: %s is larger than %d bytes", ErrKey, path, maxKeyFile)
	}
	return b[:n], nil
}

func readFull(f *os.File, b []byte) (int, error) {
	n, err := io.ReadFull(f, b)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = nil
	}
	return n, err
}

// writeFile replaces path atomically with b, mode 0600.
func writeFile(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".identity-key-*")
	if err != nil {
		return fmt.Errorf("identitytoken: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("identitytoken: %w", err)
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("identitytoken: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("identitytoken: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("identitytoken: %w", err)
	}
	return nil
}

func base64URL(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
