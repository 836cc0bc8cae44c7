package directory

import (
	"sync"
	"time"
)

// cache is a map with an expiry per entry and a bound on its size. Reads
// take a shared lock: a request whose answer is cached costs a map lookup.
type cache[V any] struct {
	mu  sync.RWMutex
	m   map[string]cacheEntry[V]
	max int
}

type cacheEntry[V any] struct {
	v       V
	expires time.Time
}

func newCache[V any](max int) *cache[V] {
	return &cache[V]{m: make(map[string]cacheEntry[V]), max: max}
}

func (c *cache[V]) get(k string, now time.Time) (V, bool) {
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.v, true
}

// put stores v until expires. When full it first drops expired entries,
// then, if still full, about half of the rest (Go's map order is random,
// so this is random eviction: no entry can be kept by an attacker).
func (c *cache[V]) put(k string, v V, expires time.Time, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; !ok && len(c.m) >= c.max {
		for k, e := range c.m {
			if !now.Before(e.expires) {
				delete(c.m, k)
			}
		}
		for k := range c.m {
			if len(c.m) < c.max/2 {
				break
			}
			delete(c.m, k)
		}
	}
	c.m[k] = cacheEntry[V]{v: v, expires: expires}
}

func (c *cache[V]) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}

// flights lets concurrent lookups of one key share a single search.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	done chan struct{}
	m    *Membership
	err  error
}

// join returns the flight for key and whether the caller leads it (and
// must search, then leave); followers wait on done.
func (f *flights) join(key string) (*flight, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if c, ok := f.m[key]; ok {
		return c, false
	}
	if f.m == nil {
		f.m = make(map[string]*flight)
	}
	c := &flight{done: make(chan struct{})}
	f.m[key] = c
	return c, true
}

func (f *flights) leave(key string, c *flight) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
	close(c.done)
}
