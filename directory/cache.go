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
