package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse-auth/gatehouse/ccache"
	"github.com/gatehouse-auth/gatehouse/krb"
)

// CcacheDir hands users' delegated Kerberos credentials to applications
// on the same host, as mod_auth_gssapi's GssapiDelegCcacheDir does: the
// TGT a user delegated is written to DIR/<user> (mode 0600, owned by the
// service's user), rewritten when the user delegates a newer one, and
// deleted when it expires. The file's modification time is the TGT's end
// time, so expired files are found again after a restart. The path goes
// to the application in X-Remote-Ccache; it runs KRB5CCNAME=FILE:<path>.
type CcacheDir struct {
	dir  string
	log  *slog.Logger
	mu   sync.Mutex
	have map[string]time.Time // path -> end time of the TGT written
	stop chan struct{}
}

// ccacheSweep is how often expired credential files are looked for.
const ccacheSweep = time.Minute

// NewCcacheDir creates dir (0700) if needed, deletes expired files in it
// and starts the sweeper; Close stops it.
func NewCcacheDir(dir string, log *slog.Logger) (*CcacheDir, error) {
	if log == nil {
		log = slog.Default()
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("server: delegation.ccache_dir: %w", err)
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("server: delegation.ccache_dir: %w", err)
	}
	if st.Mode().Perm()&0o022 != 0 {
		return nil, fmt.Errorf("server: delegation.ccache_dir %s: writable by group or others (mode %v)", dir, st.Mode().Perm())
	}
	c := &CcacheDir{dir: dir, log: log, have: map[string]time.Time{}, stop: make(chan struct{})}
	c.sweep(time.Now())
	go func() {
		t := time.NewTicker(ccacheSweep)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case now := <-t.C:
				c.sweep(now)
			}
		}
	}()
	return c, nil
}

// Close stops the sweeper.
func (c *CcacheDir) Close() { close(c.stop) }

// fileName is the user's file in the directory: the name path-escaped, so
// that "alice/admin@REALM" stays one file; names that would be hidden or
// special are refused.
func fileName(user string) (string, error) {
	n := url.PathEscape(user)
	if n == "" || strings.HasPrefix(n, ".") || len(n) > 255 {
		return "", errors.New("user name cannot name a file")
	}
	return n, nil
}

// Store writes id's delegated TGT and returns the file's path; "" when id
// delegated none (or writing failed, which is logged).
func (c *CcacheDir) Store(id *Identity) string {
	if id == nil || id.delegatedTGT == nil {
		return ""
	}
	t := id.delegatedTGT
	now := time.Now()
	if !t.cred.EndTime.IsZero() && now.After(t.cred.EndTime) {
		return ""
	}
	name, err := fileName(id.User)
	if err != nil {
		c.log.Warn("delegated credentials not written", "user", id.User, "reason", err.Error())
		return ""
	}
	path := filepath.Join(c.dir, name)
	c.mu.Lock()
	defer c.mu.Unlock()
	if end, ok := c.have[path]; ok && !t.cred.EndTime.After(end) {
		if _, err := os.Stat(path); err == nil {
			return path // as fresh as what the user just delegated
		}
	}
	b, err := ccache.Marshal(t.crealm, t.cname, []krb.Credential{t.cred})
	if err != nil {
		c.log.Warn("delegated credentials not written", "user", id.User, "error", err)
		return ""
	}
	if err := writePrivate(path, b, t.cred.EndTime); err != nil {
		c.log.Error("delegated credentials not written", "user", id.User, "error", err)
		return ""
	}
	c.have[path] = t.cred.EndTime
	return path
}

// writePrivate replaces path atomically with b (0600) and sets its
// modification time to expires.
func writePrivate(path string, b []byte, expires time.Time) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".ccache-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if !expires.IsZero() {
		if err := os.Chtimes(tmp.Name(), expires, expires); err != nil {
			return err
		}
	}
	return os.Rename(tmp.Name(), path)
}

// sweep deletes the credential files whose TGT has expired.
func (c *CcacheDir) sweep(now time.Time) {
	ents, err := os.ReadDir(c.dir)
	if err != nil {
		c.log.Warn("delegation.ccache_dir", "error", err)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range ents {
		if !e.Type().IsRegular() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil || info.ModTime().After(now) {
			continue
		}
		p := filepath.Join(c.dir, e.Name())
		if err := os.Remove(p); err == nil {
			delete(c.have, p)
		}
	}
}
