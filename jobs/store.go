// Package jobs is background transfer in the style of BITS: downloads kept
// in a store, run by a worker (`gatehouse jobs run`), resumed across
// interruptions and restarts with HTTP range requests, retried with
// backoff, each with its own client settings and credentials (server and
// proxy, explicit or implicit) as package client takes them. Credentials
// are sealed at rest with AES-256-GCM under a key file of mode 0600 next
// to the store, the portable stand-in for BITS's CryptoAPI protection.
//
// States follow BITS: queued → transferring → transferred, then complete
// (the file is moved into place, BITS's Complete) → acknowledged; a network
// failure is a transient_error retried with backoff, an HTTP refusal an
// error that waits for `resume`; cancel drops the partial file.
//
// It is not a scheduler for uploads (BITS upload jobs) and does not watch
// network cost or idle bandwidth.
package jobs

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"syscall"
	"time"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/gatehouse-auth/gatehouse/client"
)

// State is a job's state (BITS's BG_JOB_STATE, lower-case).
type State string

const (
	Queued         State = "queued"
	Transferring   State = "transferring"
	TransientError State = "transient_error" // retried at NextTry
	Error          State = "error"           // needs Resume
	Transferred    State = "transferred"     // the data is all here; Complete moves it into place
	Acknowledged   State = "acknowledged"    // completed
	Cancelled      State = "cancelled"
)

// Job is one download.
type Job struct {
	ID           string        `json:"id"`
	URL          string        `json:"url"`
	Dest         string        `json:"dest"`
	State        State         `json:"state"`
	BytesDone    int64         `json:"bytes_done"`
	BytesTotal   int64         `json:"bytes_total"` // -1: unknown
	Error        string        `json:"error,omitempty"`
	Attempts     int           `json:"attempts"`
	NextTry      time.Time     `json:"next_try,omitzero"`
	Created      time.Time     `json:"created"`
	Modified     time.Time     `json:"modified"`
	Client       client.Config `json:"client"`
	ETag         string        `json:"-"` // validators for If-Range
	LastModified string        `json:"-"`
}

// PartPath is where the data collects until Complete.
func (j *Job) PartPath() string { return j.Dest + ".gatehouse-part" }

// Secrets are a job's credentials, sealed in the store.
type secrets struct {
	Server *client.Credentials `json:"server,omitempty"`
	Proxy  *client.Credentials `json:"proxy,omitempty"`
}

// Store keeps jobs in SQLite (mode 0600) with their credentials sealed.
type Store struct {
	db   *sql.DB
	path string
	aead cipher.AEAD
}

// ErrNotFound is returned for an unknown job id.
var ErrNotFound = errors.New("jobs: no such job")

const schema = `
CREATE TABLE IF NOT EXISTS jobs (
	id TEXT PRIMARY KEY,
	url TEXT NOT NULL,
	dest TEXT NOT NULL,
	state TEXT NOT NULL,
	bytes_done INTEGER NOT NULL,
	bytes_total INTEGER NOT NULL,
	error TEXT NOT NULL,
	attempts INTEGER NOT NULL,
	next_try INTEGER NOT NULL,
	created INTEGER NOT NULL,
	modified INTEGER NOT NULL,
	client TEXT NOT NULL,
	secrets BLOB,
	etag TEXT NOT NULL,
	last_modified TEXT NOT NULL
);`

// DefaultPath is $XDG_STATE_HOME/gatehouse/jobs.db, else
// ~/.local/state/gatehouse/jobs.db.
func DefaultPath() (string, error) {
	dir := os.Getenv("XDG_STATE_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("jobs: no home directory for the job store: %w", err)
		}
		dir = filepath.Join(home, ".local", "state")
	}
	return filepath.Join(dir, "gatehouse", "jobs.db"), nil
}

// Open opens (creating) the store at path and its key file path+".key".
// Both must be readable by their owner only.
func Open(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	for _, p := range []string{path, path + ".key"} {
		if st, err := os.Stat(p); err == nil && st.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("jobs: %s has mode %v, readable by others; run: chmod 600 %s", p, st.Mode().Perm(), p)
		}
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	f.Close()
	key, err := loadKey(path + ".key")
	if err != nil {
		return nil, err
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(DELETE)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: %s is not a job store: %w", path, err)
	}
	return &Store{db: db, path: path, aead: aead}, nil
}

// loadKey reads the 32-byte key, making it on first use.
func loadKey(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("jobs: key: %w", err)
		}
		_, err = f.Write([]byte(hex.EncodeToString(key) + "\n"))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("jobs: key: %w", err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: key: %w", err)
	}
	key, err := hex.DecodeString(string(trimNL(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("jobs: key file %s is not 32 hex-encoded bytes", path)
	}
	return key, nil
}

func trimNL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// ErrWorkerRunning is returned when another worker has the store.
var ErrWorkerRunning = errors.New("jobs: another worker (gatehouse jobs run) is already running on this store")

// lockWorker takes the store's worker lock (flock on path+".lock"; the
// kernel drops it when the process dies, however it dies): one worker per
// store, as jobs found "transferring" are taken to be orphans.
func (s *Store) lockWorker() (func(), error) {
	f, err := os.OpenFile(s.path+".lock", os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, ErrWorkerRunning
		}
		return nil, fmt.Errorf("jobs: lock: %w", err)
	}
	return func() { f.Close() }, nil
}

// Close closes the store.
func (s *Store) Close() error { return s.db.Close() }

// seal encrypts a job's credentials; the job id is the associated data, so
// sealed credentials cannot be moved to another job.
func (s *Store) seal(id string, c *client.Config) ([]byte, error) {
	if c.Server == nil && c.Proxy == nil {
		return nil, nil
	}
	pt, err := json.Marshal(secrets{Server: c.Server, Proxy: c.Proxy})
	if err != nil {
		return nil, err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(pt)+s.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return s.aead.Seal(nonce, nonce, pt, []byte(id)), nil
}

func (s *Store) unseal(id string, b []byte, c *client.Config) error {
	if len(b) == 0 {
		return nil
	}
	n := s.aead.NonceSize()
	if len(b) < n+s.aead.Overhead() {
		return errors.New("jobs: sealed credentials are truncated")
	}
	pt, err := s.aead.Open(nil, b[:n], b[n:], []byte(id))
	if err != nil {
		return fmt.Errorf("jobs: job %s: credentials do not open with %s.key (was the key replaced?)", id, s.path)
	}
	var sec secrets
	if err := json.Unmarshal(pt, &sec); err != nil {
		return fmt.Errorf("jobs: job %s: sealed credentials: %w", id, err)
	}
	c.Server, c.Proxy = sec.Server, sec.Proxy
	return nil
}

func newID() string {
	b := make([]byte, 8)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Add queues a download of rawURL to dest (made absolute) with the client
// settings and credentials of c.
func (s *Store) Add(ctx context.Context, rawURL, dest string, c client.Config) (*Job, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jobs: %q is not an http:// or https:// URL", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("jobs: credentials in the URL are not kept; give them with -u")
	}
	if dest == "" {
		return nil, errors.New("jobs: a destination file is needed (-o FILE)")
	}
	abs, err := filepath.Abs(dest)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if st, err := os.Stat(filepath.Dir(abs)); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("jobs: the directory of %s does not exist", abs)
	}
	now := time.Now().UTC().Truncate(time.Second)
	j := &Job{ID: newID(), URL: u.String(), Dest: abs, State: Queued, BytesTotal: -1, Created: now, Modified: now, Client: c}
	if err := s.insert(ctx, j); err != nil {
		return nil, err
	}
	return j, nil
}

func (s *Store) insert(ctx context.Context, j *Job) error {
	cj, err := json.Marshal(j.Client)
	if err != nil {
		return err
	}
	sealed, err := s.seal(j.ID, &j.Client)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.ID, j.URL, j.Dest, string(j.State), j.BytesDone, j.BytesTotal, j.Error, j.Attempts, unix(j.NextTry),
		j.Created.Unix(), j.Modified.Unix(), string(cj), sealed, j.ETag, j.LastModified)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

func unix(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.Unix()
}

// save writes a job's progress and state (not its settings).
func (s *Store) save(ctx context.Context, j *Job) error {
	j.Modified = time.Now().UTC().Truncate(time.Second)
	_, err := s.db.ExecContext(ctx, `UPDATE jobs SET state=?, bytes_done=?, bytes_total=?, error=?, attempts=?, next_try=?,
		modified=?, etag=?, last_modified=? WHERE id=?`,
		string(j.State), j.BytesDone, j.BytesTotal, j.Error, j.Attempts, unix(j.NextTry), j.Modified.Unix(),
		j.ETag, j.LastModified, j.ID)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	return nil
}

const columns = `id, url, dest, state, bytes_done, bytes_total, error, attempts, next_try, created, modified, client, secrets, etag, last_modified`

func (s *Store) scan(row interface{ Scan(...any) error }, withSecrets bool) (*Job, error) {
	var j Job
	var state, cj string
	var sealed []byte
	var next, created, modified int64
	if err := row.Scan(&j.ID, &j.URL, &j.Dest, &state, &j.BytesDone, &j.BytesTotal, &j.Error, &j.Attempts, &next,
		&created, &modified, &cj, &sealed, &j.ETag, &j.LastModified); err != nil {
		return nil, err
	}
	j.State = State(state)
	if next != 0 {
		j.NextTry = time.Unix(next, 0).UTC()
	}
	j.Created, j.Modified = time.Unix(created, 0).UTC(), time.Unix(modified, 0).UTC()
	if err := json.Unmarshal([]byte(cj), &j.Client); err != nil {
		return nil, fmt.Errorf("jobs: job %s settings: %w", j.ID, err)
	}
	if withSecrets {
		if err := s.unseal(j.ID, sealed, &j.Client); err != nil {
			return nil, err
		}
	}
	return &j, nil
}

// Get returns a job without its credentials.
func (s *Store) Get(ctx context.Context, id string) (*Job, error) {
	j, err := s.scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM jobs WHERE id=?`, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return j, err
}

// List returns the jobs, oldest first, without their credentials.
func (s *Store) List(ctx context.Context) ([]*Job, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+columns+` FROM jobs ORDER BY created, id`)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer rows.Close()
	var out []*Job
	for rows.Next() {
		j, err := s.scan(rows, false)
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, rows.Err()
}

// next returns the next runnable job (queued, or a transient error whose
// time has come, or transferring: a worker that died mid-transfer), with
// its credentials; nil when there is none.
func (s *Store) next(ctx context.Context, now time.Time) (*Job, error) {
	j, err := s.scan(s.db.QueryRowContext(ctx, `SELECT `+columns+` FROM jobs
		WHERE state IN ('queued','transferring') OR (state='transient_error' AND next_try<=?)
		ORDER BY created, id LIMIT 1`, now.Unix()), true)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return j, err
}

// Resume puts a job in error (or transient error) back in the queue.
func (s *Store) Resume(ctx context.Context, id string) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if j.State != Error && j.State != TransientError {
		return fmt.Errorf("jobs: job %s is %s, not in error", id, j.State)
	}
	j.State, j.NextTry, j.Error = Queued, time.Time{}, ""
	return s.save(ctx, j)
}

// Complete moves a transferred job's file into place (BITS's Complete).
func (s *Store) Complete(ctx context.Context, id string) (*Job, error) {
	j, err := s.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	if j.State != Transferred {
		return nil, fmt.Errorf("jobs: job %s is %s; only a transferred job can be completed", id, j.State)
	}
	if err := os.Rename(j.PartPath(), j.Dest); err != nil {
		return nil, fmt.Errorf("jobs: completing %s: %w", id, err)
	}
	j.State = Acknowledged
	return j, s.save(ctx, j)
}

// Cancel stops a job and removes its partial data; a completed job is
// left as it is.
func (s *Store) Cancel(ctx context.Context, id string) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if j.State == Acknowledged || j.State == Cancelled {
		return fmt.Errorf("jobs: job %s is already %s", id, j.State)
	}
	if err := os.Remove(j.PartPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("jobs: %w", err)
	}
	j.State = Cancelled
	return s.save(ctx, j)
}

// Remove forgets an acknowledged or cancelled job.
func (s *Store) Remove(ctx context.Context, id string) error {
	j, err := s.Get(ctx, id)
	if err != nil {
		return err
	}
	if j.State != Acknowledged && j.State != Cancelled {
		return fmt.Errorf("jobs: job %s is %s; cancel or complete it first", id, j.State)
	}
	_, err = s.db.ExecContext(ctx, `DELETE FROM jobs WHERE id=?`, id)
	return err
}
