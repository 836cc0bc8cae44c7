package accounts

import (
	"encoding/binary"
	"os"
	"sync"
)

// maxCached bounds the credentials Lookup keeps in memory; past it the
// cache starts over.
const maxCached = 4096

// credCache keeps what Lookup read from the file, for as long as the file
// is unchanged, so that a handshake (NTLM looks an account up twice) does
// not cost SQL queries. "Unchanged" is SQLite's own test of its page
// cache in rollback-journal mode (the store's mode): the same file (not
// replaced) with the same file change counter, the 4-byte integer at
// offset 24 of the database header that every committed write increments
// (https://www.sqlite.org/fileformat2.html#file_change_counter). Any
// write, by this process or another (gatehouse accounts passwd while the
// server runs), empties the cache at the next Lookup; a file in WAL mode
// (header bytes 18-19 not 1), which may change without the counter, is not
// cached at all. Checking costs a stat and a 32-byte read.
type credCache struct {
	mu      sync.Mutex
	f       *os.File    // the store file, read for its header
	fi      os.FileInfo // f's identity
	counter uint32
	m       map[string]*Credentials // by ASCII-lowercased name (COLLATE NOCASE)
	closed  bool                    // the store is closed: nothing is opened again
}

// version checks the file and returns its change counter; ok is false when
// the file cannot be checked or is not in rollback-journal mode. A change
// empties the cache. Called with c.mu held.
func (c *credCache) version(path string) (counter uint32, ok bool) {
	if c.closed {
		return 0, false
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false
	}
	if c.f == nil || !os.SameFile(fi, c.fi) {
		if c.f != nil {
			c.f.Close()
		}
		c.f, c.m = nil, nil
		f, err := os.Open(path)
		if err != nil {
			return 0, false
		}
		if ffi, err := f.Stat(); err != nil || !os.SameFile(fi, ffi) {
			f.Close()
			return 0, false
		}
		c.f, c.fi = f, fi
	}
	var h [32]byte
	if n, _ := c.f.ReadAt(h[:], 0); n != len(h) || h[18] != 1 || h[19] != 1 {
		c.m = nil
		return 0, false
	}
	counter = binary.BigEndian.Uint32(h[24:])
	if counter != c.counter || c.m == nil {
		c.counter, c.m = counter, map[string]*Credentials{}
	}
	return counter, true
}

// get returns a copy of the cached credentials of name, and the counter to
// store a fresh answer under (ok false: do not cache).
func (c *credCache) get(path, name string) (cr *Credentials, counter uint32, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counter, ok = c.version(path)
	if !ok {
		return nil, 0, false
	}
	if x := c.m[foldName(name)]; x != nil {
		return x.clone(), counter, true
	}
	return nil, counter, true
}

// put stores cr for name if the file has not changed since counter was read.
func (c *credCache) put(name string, counter uint32, cr *Credentials) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || c.counter != counter {
		return
	}
	if len(c.m) >= maxCached {
		c.m = map[string]*Credentials{}
	}
	c.m[foldName(name)] = cr.clone()
}

// drop empties the cache (this process wrote to the store).
func (c *credCache) drop() {
	c.mu.Lock()
	c.m = nil
	c.mu.Unlock()
}

func (c *credCache) close() {
	c.mu.Lock()
	if c.f != nil {
		c.f.Close()
		c.f = nil
	}
	c.m, c.closed = nil, true
	c.mu.Unlock()
}

// foldName is SQLite's NOCASE: ASCII letters folded, nothing else.
func foldName(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if 'A' <= b[j] && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}

// clone copies c so that a caller changing its copy cannot change the
// cache's.
func (c *Credentials) clone() *Credentials {
	d := *c
	d.NTHash = append([]byte(nil), c.NTHash...)
	d.Groups = append([]string{}, c.Groups...)
	return &d
}
