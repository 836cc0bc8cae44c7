package krb

import "sync"

// A client sends the same ticket with every new authenticator until it
// expires, so the acceptor keeps, per service key, what it learnt from
// each ticket it accepted: the decrypted EncTicketPart and the verified
// PAC. Both are a deterministic function of the service key and the
// ticket ciphertext, and the cache is keyed by the whole ciphertext
// (compared byte for byte by the map), one cache per service key: a hit
// is a ticket this key already decrypted, integrity-checked and whose PAC
// signature it verified, with the same bytes. Everything that depends on
// the request — times against the clock, the authenticator, the replay
// cache, the checksum and bindings, the AP-REP — is checked every time.
// Only tickets of requests that passed every check are added.

// ticketCacheGeneration is the size of one generation (two are kept: at
// most twice this many tickets per service key), ticketCacheMaxCipher
// the largest ticket ciphertext kept (AD tickets with large PACs are
// 2-10 KB; beyond this they are decrypted every time). Memory: at most
// 2 × 512 × (8 KiB + the parsed ticket), about 10 MB, for a key serving
// a thousand clients whose tickets carry large PACs; an MIT ticket is
// about 1 KB.
const (
	ticketCacheGeneration = 512
	ticketCacheMaxCipher  = 8 << 10
)

type openedTicket struct {
	etp *encTicketPart
	pac *PAC
}

type ticketCache struct {
	mu       sync.Mutex
	cur, old map[string]*openedTicket
}

// get returns what the ticket with this ciphertext gave, nil when it is
// not known.
func (c *ticketCache) get(cipher []byte) *openedTicket {
	if len(cipher) > ticketCacheMaxCipher {
		return nil
	}
	c.mu.Lock()
	t := c.cur[string(cipher)]
	if t == nil {
		if t = c.old[string(cipher)]; t != nil {
			c.add(string(cipher), t)
		}
	}
	c.mu.Unlock()
	return t
}

func (c *ticketCache) put(cipher []byte, t *openedTicket) {
	if len(cipher) > ticketCacheMaxCipher {
		return
	}
	c.mu.Lock()
	c.add(string(cipher), t)
	c.mu.Unlock()
}

func (c *ticketCache) add(k string, t *openedTicket) {
	if c.cur == nil || len(c.cur) >= ticketCacheGeneration {
		c.old, c.cur = c.cur, make(map[string]*openedTicket, ticketCacheGeneration)
	}
	c.cur[k] = t
}
