package server

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// ocspChecker asks a client certificate's OCSP responder (RFC 6960, the
// URL in its Authority Information Access) whether it is revoked, and
// keeps good answers until their next update (at most an hour). No
// responder, no answer or an answer not signed for the issuer: refused
// (fail closed, as IIS with revocation checking on).
type ocspChecker struct {
	client *http.Client
	mu     sync.Mutex
	cache  map[[32]byte]time.Time // leaf fingerprint: good until
}

const (
	ocspTimeout  = 5 * time.Second
	ocspMaxCache = 10000
	ocspMaxAge   = time.Hour
	ocspMaxReply = 64 << 10
)

func newOCSPChecker() *ocspChecker {
	return &ocspChecker{client: &http.Client{Timeout: ocspTimeout}, cache: map[[32]byte]time.Time{}}
}

func (o *ocspChecker) check(leaf, issuer *x509.Certificate, now time.Time) error {
	id := sha256.Sum256(leaf.Raw)
	o.mu.Lock()
	until, ok := o.cache[id]
	o.mu.Unlock()
	if ok && now.Before(until) {
		return nil
	}
	if len(leaf.OCSPServer) == 0 {
		return errors.New("OCSP checking is on and the certificate names no OCSP responder")
	}
	req, err := ocsp.CreateRequest(leaf, issuer, &ocsp.RequestOptions{Hash: crypto.SHA256})
	if err != nil {
		return fmt.Errorf("OCSP request: %v", err)
	}
	var lastErr error
	for _, url := range leaf.OCSPServer {
		resp, err := o.ask(url, req, leaf, issuer)
		if err != nil {
			lastErr = err
			continue
		}
		switch resp.Status {
		case ocsp.Good:
			if !resp.NextUpdate.IsZero() && now.After(resp.NextUpdate) {
				return fmt.Errorf("OCSP answer from %s is stale (next update %s)", url, resp.NextUpdate.Format(time.RFC3339))
			}
			good := now.Add(ocspMaxAge)
			if !resp.NextUpdate.IsZero() && resp.NextUpdate.Before(good) {
				good = resp.NextUpdate
			}
			o.mu.Lock()
			if len(o.cache) >= ocspMaxCache {
				clear(o.cache)
			}
			o.cache[id] = good
			o.mu.Unlock()
			return nil
		case ocsp.Revoked:
			return fmt.Errorf("revoked on %s (OCSP, %s)", resp.RevokedAt.Format(time.RFC3339), url)
		default:
			return fmt.Errorf("OCSP responder %s does not know the certificate", url)
		}
	}
	return fmt.Errorf("no OCSP answer: %v", lastErr)
}

func (o *ocspChecker) ask(url string, req []byte, leaf, issuer *x509.Certificate) (*ocsp.Response, error) {
	ctx, cancel := context.WithTimeout(context.Background(), ocspTimeout)
	defer cancel()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(req))
	if err != nil {
		return nil, err
	}
	hreq.Header.Set("Content-Type", "application/ocsp-request")
	hresp, err := o.client.Do(hreq)
	if err != nil {
		return nil, err
	}
	defer hresp.Body.Close()
	if hresp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("OCSP responder %s: %s", url, hresp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(hresp.Body, ocspMaxReply))
	if err != nil {
		return nil, err
	}
	// ParseResponseForCert checks the signature: by the issuer, or by a
	// responder certificate the issuer delegated (id-kp-OCSPSigning).
	resp, err := ocsp.ParseResponseForCert(body, leaf, issuer)
	if err != nil {
		return nil, fmt.Errorf("OCSP answer from %s: %v", url, err)
	}
	return resp, nil
}
