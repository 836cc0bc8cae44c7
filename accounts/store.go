package accounts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sort"
	"strings"
	"time"
	"unicode"

	"github.com/gatehouse-auth/gatehouse/digest"
	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// Errors callers can test with errors.Is.
var (
	ErrNotFound      = errors.New("accounts: no such account")
	ErrExists        = errors.New("accounts: account already exists")
	ErrBadName       = errors.New("accounts: invalid account or group name")
	ErrWorldReadable = errors.New("accounts: store is readable by other users")
)

// DefaultRealm is the Digest realm of a store created without one.
const DefaultRealm = "gatehouse"

// maxNameLen bounds account and group names; Windows' own limit for a SAM
// account name is 20, for a group 256. 64 keeps HTTP headers small.
const maxNameLen = 64

// Store is an open account store. It is safe for concurrent use.
type Store struct {
	db    *sql.DB
	path  string
	realm string
	cache credCache // Lookup's answers while the file is unchanged
}

// Account is what List returns: no secrets.
type Account struct {
	Name    string    `json:"name"`
	Groups  []string  `json:"groups"`
	Created time.Time `json:"created"`
}

// Credentials are the verifiers stored for one account.
type Credentials struct {
	Name      string
	PHC       string // Argon2id, for Basic
	NTHash    []byte // for NTLM
	HA1MD5    string // Digest, in the store's realm
	HA1SHA256 string
	Groups    []string
}

// HA1 returns the stored HA1 for the algorithm.
func (c *Credentials) HA1(a digest.Algorithm) string {
	if a == digest.SHA256 {
		return c.HA1SHA256
	}
	return c.HA1MD5
}

const schema = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS accounts (
	name TEXT PRIMARY KEY COLLATE NOCASE,
	argon2 TEXT NOT NULL,
	nt_hash BLOB NOT NULL,
	ha1_md5 TEXT NOT NULL,
	ha1_sha256 TEXT NOT NULL,
	uhash_md5 TEXT NOT NULL,
	uhash_sha256 TEXT NOT NULL,
	created INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS accounts_uhash_md5 ON accounts(uhash_md5);
CREATE INDEX IF NOT EXISTS accounts_uhash_sha256 ON accounts(uhash_sha256);
CREATE TABLE IF NOT EXISTS members (
	grp TEXT NOT NULL COLLATE NOCASE,
	account TEXT NOT NULL COLLATE NOCASE REFERENCES accounts(name) ON DELETE CASCADE,
	PRIMARY KEY (grp, account)
);
`

// Open opens the store at path, creating it (mode 0600) with realm if it does
// not exist. realm "" means DefaultRealm for a new store and "whatever the
// store has" for an existing one. Open refuses a file that others can read.
func Open(path, realm string) (*Store, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("accounts: open %s: %w", path, err)
	}
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("accounts: stat %s: %w", path, err)
	}
	if st.Mode().Perm()&0o004 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %v; run: chmod 600 %s", ErrWorldReadable, path, st.Mode().Perm(), path)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)&_pragma=journal_mode(DELETE)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("accounts: open %s: %w", path, err)
	}
	s := &Store{db: db, path: path}
	if err := s.init(realm); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) init(realm string) error {
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, schema); err != nil {
		return fmt.Errorf("accounts: %s is not a Gatehouse account store: %w", s.path, err)
	}
	var stored string
	err := s.db.QueryRowContext(ctx, `SELECT value FROM meta WHERE key='realm'`).Scan(&stored)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if realm == "" {
			realm = DefaultRealm
		}
		if _, err := s.db.ExecContext(ctx, `INSERT INTO meta(key,value) VALUES('realm',?)`, realm); err != nil {
			return fmt.Errorf("accounts: %w", err)
		}
		s.realm = realm
	case err != nil:
		return fmt.Errorf("accounts: read %s: %w", s.path, err)
	default:
		if realm != "" && realm != stored {
			return fmt.Errorf("accounts: %s was made for Digest realm %q, not %q (Digest hashes are bound to the realm)", s.path, stored, realm)
		}
		s.realm = stored
	}
	return nil
}

// Close closes the store.
func (s *Store) Close() error {
	s.cache.close()
	return s.db.Close()
}

// Realm is the Digest realm the store's HA1 values were computed in.
func (s *Store) Realm() string { return s.realm }

// ValidName reports whether name may be an account or group name: 1 to
// maxNameLen printable characters, none of those Windows forbids in SAM
// account names ( " / \ [ ] : ; | = , + * ? < > @ ).
func ValidName(name string) bool {
	if name == "" || len(name) > maxNameLen || strings.TrimSpace(name) != name {
		return false
	}
	for _, r := range name {
		if !unicode.IsPrint(r) || strings.ContainsRune(`"/\[]:;|=,+*?<>@`, r) {
			return false
		}
	}
	return true
}

func (s *Store) verifiers(name, password string) (phc string, nt []byte, h1m, h1s, uhm, uhs string, err error) {
	phc, err = HashPassword(password)
	if err != nil {
		return
	}
	nt = NTHash(password)
	h1m = digest.MD5.HA1(name, s.realm, password)
	h1s = digest.SHA256.HA1(name, s.realm, password)
	uhm = digest.MD5.UserHash(name, s.realm)
	uhs = digest.SHA256.UserHash(name, s.realm)
	return
}

// Add creates an account with its groups.
func (s *Store) Add(name, password string, groups []string) error {
	if !ValidName(name) {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for _, g := range groups {
		if !ValidName(g) {
			return fmt.Errorf("%w: group %q", ErrBadName, g)
		}
	}
	phc, nt, h1m, h1s, uhm, uhs, err := s.verifiers(name, password)
	if err != nil {
		return err
	}
	tx, err := s.db.Begin()
	if err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM accounts WHERE name=?`, name).Scan(&n); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: %q", ErrExists, name)
	}
	if _, err := tx.Exec(`INSERT INTO accounts(name,argon2,nt_hash,ha1_md5,ha1_sha256,uhash_md5,uhash_sha256,created) VALUES(?,?,?,?,?,?,?,?)`,
		name, phc, nt, h1m, h1s, uhm, uhs, time.Now().Unix()); err != nil {
		return fmt.Errorf("accounts: add %q: %w", name, err)
	}
	for _, g := range groups {
		if _, err := tx.Exec(`INSERT OR IGNORE INTO members(grp,account) VALUES(?,?)`, g, name); err != nil {
			return fmt.Errorf("accounts: add %q to %q: %w", name, g, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("accounts: %w", err)
	}
	s.cache.drop()
	return nil
}

// SetPassword replaces every verifier of an account.
func (s *Store) SetPassword(name, password string) error {
	var canonical string
	if err := s.db.QueryRow(`SELECT name FROM accounts WHERE name=?`, name).Scan(&canonical); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("%w: %q", ErrNotFound, name)
		}
		return fmt.Errorf("accounts: %w", err)
	}
	phc, nt, h1m, h1s, uhm, uhs, err := s.verifiers(canonical, password)
	if err != nil {
		return err
	}
	_, err = s.db.Exec(`UPDATE accounts SET argon2=?,nt_hash=?,ha1_md5=?,ha1_sha256=?,uhash_md5=?,uhash_sha256=? WHERE name=?`,
		phc, nt, h1m, h1s, uhm, uhs, canonical)
	if err != nil {
		return fmt.Errorf("accounts: passwd %q: %w", name, err)
	}
	s.cache.drop()
	return nil
}

// Delete removes an account and its memberships.
func (s *Store) Delete(name string) error {
	res, err := s.db.Exec(`DELETE FROM accounts WHERE name=?`, name)
	s.cache.drop()
	if err != nil {
		return fmt.Errorf("accounts: del %q: %w", name, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q", ErrNotFound, name)
	}
	return nil
}

// AddToGroup makes name a member of group.
func (s *Store) AddToGroup(group, name string) error {
	if !ValidName(group) {
		return fmt.Errorf("%w: group %q", ErrBadName, group)
	}
	if _, err := s.Lookup(name); err != nil {
		return err
	}
	_, err := s.db.Exec(`INSERT OR IGNORE INTO members(grp,account) VALUES(?,?)`, group, name)
	s.cache.drop()
	if err != nil {
		return fmt.Errorf("accounts: group add: %w", err)
	}
	return nil
}

// RemoveFromGroup ends name's membership of group.
func (s *Store) RemoveFromGroup(group, name string) error {
	res, err := s.db.Exec(`DELETE FROM members WHERE grp=? AND account=?`, group, name)
	s.cache.drop()
	if err != nil {
		return fmt.Errorf("accounts: group del: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: %q is not in group %q", ErrNotFound, name, group)
	}
	return nil
}

// List returns every account, sorted by name.
func (s *Store) List() ([]Account, error) {
	rows, err := s.db.Query(`SELECT name, created FROM accounts ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("accounts: list: %w", err)
	}
	var out []Account
	for rows.Next() {
		var a Account
		var created int64
		if err := rows.Scan(&a.Name, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("accounts: list: %w", err)
		}
		a.Created = time.Unix(created, 0).UTC()
		out = append(out, a)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("accounts: list: %w", err)
	}
	for i := range out {
		g, err := s.groups(out[i].Name)
		if err != nil {
			return nil, err
		}
		out[i].Groups = g
	}
	return out, nil
}

func (s *Store) groups(name string) ([]string, error) {
	rows, err := s.db.Query(`SELECT grp FROM members WHERE account=? ORDER BY grp`, name)
	if err != nil {
		return nil, fmt.Errorf("accounts: groups: %w", err)
	}
	defer rows.Close()
	g := []string{}
	for rows.Next() {
		var x string
		if err := rows.Scan(&x); err != nil {
			return nil, fmt.Errorf("accounts: groups: %w", err)
		}
		g = append(g, x)
	}
	sort.Strings(g)
	return g, rows.Err()
}

const selectCreds = `SELECT name, argon2, nt_hash, ha1_md5, ha1_sha256 FROM accounts `

func (s *Store) scanCreds(row *sql.Row, what string) (*Credentials, error) {
	var c Credentials
	if err := row.Scan(&c.Name, &c.PHC, &c.NTHash, &c.HA1MD5, &c.HA1SHA256); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %q", ErrNotFound, what)
		}
		return nil, fmt.Errorf("accounts: lookup: %w", err)
	}
	g, err := s.groups(c.Name)
	if err != nil {
		return nil, err
	}
	c.Groups = g
	return &c, nil
}

// Lookup returns the verifiers of an account (names are case-insensitive,
// as on Windows); the returned Name is the stored spelling.
//
// Answers are cached while the store file is unchanged (see credCache):
// a handshake pays a stat and a header read instead of SQL queries, and
// any change to the file, from any process, is seen by the next Lookup.
func (s *Store) Lookup(name string) (*Credentials, error) {
	cr, counter, cacheable := s.cache.get(s.path, name)
	if cr != nil {
		return cr, nil
	}
	cr, err := s.scanCreds(s.db.QueryRow(selectCreds+`WHERE name=?`, name), name)
	if err == nil && cacheable {
		s.cache.put(name, counter, cr)
	}
	return cr, err
}

// LookupUserHash finds the account whose RFC 7616 userhash for algorithm a
// is uh.
func (s *Store) LookupUserHash(a digest.Algorithm, uh string) (*Credentials, error) {
	col := "uhash_md5"
	if a == digest.SHA256 {
		col = "uhash_sha256"
	}
	return s.scanCreds(s.db.QueryRow(selectCreds+`WHERE `+col+`=?`, strings.ToLower(uh)), "userhash")
}

// CheckPassword verifies a password (Basic). An unknown account costs the
// same Argon2id work as a known one. It returns ErrNotFound for an unknown
// account and (creds, false, nil) for a wrong password.
func (s *Store) CheckPassword(name, password string) (*Credentials, bool, error) {
	c, err := s.Lookup(name)
	if err != nil {
		DummyVerify(password)
		return nil, false, err
	}
	ok, err := VerifyPassword(c.PHC, password)
	if err != nil {
		return nil, false, err
	}
	return c, ok, nil
}

// Stat reports the store file's mode, for diagnostics.
func (s *Store) Stat() (fs.FileInfo, error) { return os.Stat(s.path) }
