package cluster

import (
	"context"
	"errors"
	"time"

	"github.com/gatehouse-auth/gatehouse/digest"
	"github.com/gatehouse-auth/gatehouse/krb"
)

// ReplayCache is the Kerberos replay cache of every instance: a
// krb.ReplayCache on Fresh. It never forgets an entry before it expires
// (Open refused a Redis that evicts), so its watermark stays zero; a Redis
// out of reach or out of memory is an error the acceptor reports as
// krb.ErrUnavailable (503), never a skipped check.
func (s *Store) ReplayCache() krb.ReplayCache { return replayCache{s} }

type replayCache struct{ s *Store }

func (c replayCache) Check(authenticator []byte, now, expires time.Time) error {
	fresh, err := c.s.Fresh(context.Background(), authenticator, expires.Sub(now))
	if err != nil {
		return err
	}
	if !fresh {
		return krb.ErrReplay
	}
	return nil
}

func (replayCache) Watermark() time.Time { return time.Time{} }

// DigestNonceCounts are the Digest nonce counts of every instance.
func (s *Store) DigestNonceCounts() digest.NonceCounts { return nonceCounts{s} }

type nonceCounts struct{ s *Store }

func (n nonceCounts) Use(nonce string, nc uint32, expires time.Time) (bool, error) {
	first, err := n.s.NonceCount(context.Background(), nonce, nc, time.Until(expires))
	if errors.Is(err, ErrNonceCount) {
		return false, digest.ErrStale
	}
	return first, err
}
