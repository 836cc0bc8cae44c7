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
// Uploads (`--upload`) speak the BITS upload protocol (package bits) and
// resume from the range the server acknowledged. A job can carry its own
// implicit identity (a ccache, a keytab, an NTLM user file: BITS's helper
// token), sealed with its credentials; such a job never uses the worker's.
//
// Every change of state goes through one transactional helper
// (Store.transition): the check of the current state and the write are
// one statement, so a `cancel` racing a worker cannot be overwritten.
//
// It does not watch network cost or idle bandwidth.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/gatehouse-auth/gatehouse/internal/seal"

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

// Kind is what a job transfers.
type Kind string

const (
	Download Kind = "download"
	Upload   Kind = "upload" // BITS upload protocol
)

// Priority orders the queue (BITS's BG_JOB_PRIORITY without "high").
type Priority int

const (
	Foreground Priority = -1
	Normal     Priority = 0 // the zero value
	Low        Priority = 1
)

// ParsePriority reads foreground, normal or low.
func ParsePriority(s string) (Priority, error) {
	switch s {
	case "foreground":
		return Foreground, nil
	case "", "normal":
		return Normal, nil
	case "low":
		return Low, nil
	}
	return Normal, fmt.Errorf("jobs: priority %q: want foreground, normal or low", s)
}

func (p Priority) String() string {
	switch p {
	case Foreground:
		return "foreground"
	case Low:
		return "low"
	}
	return "normal"
}

// MarshalText writes the priority's name.
func (p Priority) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText reads a priority's name.
func (p *Priority) UnmarshalText(b []byte) error {
	v, err := ParsePriority(string(b))
	*p = v
	return err
}

// Options are a job's settings beyond the URL and the client's.
type Options struct {
	Priority  Priority `json:"priority"`
	NotifyCmd string   `json:"notify_cmd,omitempty"` // run (sh -c) when transferred or in error
	LimitRate int64    `json:"limit_rate,omitempty"` // bytes per second; 0: no limit
	Kind      Kind     `json:"kind"`
	Source    string   `json:"source,omitempty"` // the file an upload sends
}

// Job is one transfer.
type Job struct {
	ID         string        `json:"id"`
	URL        string        `json:"url"`
	Dest       string        `json:"dest"`
	State      State         `json:"state"`
	BytesDone  int64         `json:"bytes_done"`
	BytesTotal int64         `json:"bytes_total"` // -1: unknown
	Error      string        `json:"error,omitempty"`
	Attempts   int           `json:"attempts"`
	NextTry    time.Time     `json:"next_try,omitzero"`
	Created    time.Time     `json:"created"`
	Modified   time.Time     `json:"modified"`
	Client     client.Config `json:"client"`
	Options
	ETag         string `json:"-"` // validators for If-Range
	LastModified string `json:"-"`
	Session      string `json:"-"` // an upload's BITS-Session-Id
}

// Percent is the share done, -1 when the total is unknown.
func (j *Job) Percent() int {
	if j.BytesTotal <= 0 {
		if j.BytesTotal == 0 && j.State == Transferred {
			return 100
		}
		return -1
	}
	return int(j.BytesDone * 100 / j.BytesTotal)
}

// PartPath is where the data collects until Complete.
func (j *Job) PartPath() string { return j.Dest + ".gatehouse-part" }

// Secrets are a job's credentials and identity, sealed in the store.
type secrets struct {
	Server         *client.Credentials            `json:"server,omitempty"`
	Proxy          *client.Credentials            `json:"proxy,omitempty"`
	ServerByScheme map[string]*client.Credentials `json:"server_by_scheme,omitempty"`
	ProxyByScheme  map[string]*client.Credentials `json:"proxy_by_scheme,omitempty"`
	Identity       *client.Identity               `json:"identity,omitempty"`
}

// Store keeps jobs in SQLite (mode 0600) with their credentials sealed.
type Store struct {
	db     *sql.DB
	path   string
	sealer *seal.Sealer
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

// migrations add the columns later versions need; "duplicate column" means
// it was done already.
var migrations = []string{
	`ALTER TABLE jobs ADD COLUMN priority INTEGER NOT NULL DEFAULT 0`,
	`ALTER TABLE jobs ADD COLUMN options TEXT NOT NULL DEFAULT '{}'`,
	`ALTER TABLE jobs ADD COLUMN session TEXT NOT NULL DEFAULT ''`,
}

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
	keys, err := seal.LoadKeys(path + ".key")
	if err != nil {
		return nil, fmt.Errorf("jobs: key: %w", err)
	}
	sealer, err := seal.New(keys)
	if err != nil {
		return nil, fmt.Errorf("jobs: key: %w", err)
	}
	dsn := "file:" + (&url.URL{Path: path}).EscapedPath() + "?_pragma=busy_timeout(5000)&_pragma=journal_mode(DELETE)"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: %s is not a job store: %w", path, err)
	}
	for _, m := range migrations {
		if _, err := db.Exec(m); err != nil && !strings.Contains(err.Error(), "duplicate column") {
			db.Close()
			return nil, fmt.Errorf("jobs: upgrading %s: %w", path, err)
		}
	}
	return &Store{db: db, path: path, sealer: sealer}, nil
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
	sec := secrets{Server: c.Server, Proxy: c.Proxy, ServerByScheme: c.ServerByScheme, ProxyByScheme: c.ProxyByScheme, Identity: c.Identity}
	if sec.Server == nil && sec.Proxy == nil && sec.ServerByScheme == nil && sec.ProxyByScheme == nil && sec.Identity == nil {
		return nil, nil
	}
	pt, err := json.Marshal(sec)
	if err != nil {
		return nil, err
	}
	return s.sealer.Seal(pt, []byte(id))
}

func (s *Store) unseal(id string, b []byte, c *client.Config) error {
	if len(b) == 0 {
		return nil
	}
	pt, err := s.sealer.Open(b, []byte(id))
	if err != nil {
		return fmt.Errorf("jobs: job %s: credentials do not open with %s.key (was the key replaced?)", id, s.path)
	}
	var sec secrets
	if err := json.Unmarshal(pt, &sec); err != nil {
		return fmt.Errorf("jobs: job %s: sealed credentials: %w", id, err)
	}
	c.Server, c.Proxy, c.ServerByScheme, c.ProxyByScheme, c.Identity = sec.Server, sec.Proxy, sec.ServerByScheme, sec.ProxyByScheme, sec.Identity
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
	return s.AddJob(ctx, rawURL, dest, c, Options{})
}

// AddJob queues a job: a download of rawURL into dest, or with
// o.Kind == Upload, an upload of o.Source to rawURL (dest unused).
func (s *Store) AddJob(ctx context.Context, rawURL, dest string, c client.Config, o Options) (*Job, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("jobs: %q is not an http:// or https:// URL", rawURL)
	}
	if u.User != nil {
		return nil, fmt.Errorf("jobs: credentials in the URL are not kept; give them with -u")
	}
	if o.Kind == "" {
		o.Kind = Download
	}
	now := time.Now().UTC().Truncate(time.Second)
	j := &Job{ID: newID(), URL: u.String(), State: Queued, BytesTotal: -1, Created: now, Modified: now, Client: c, Options: o}
	switch o.Kind {
	case Download:
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
		j.Dest = abs
	case Upload:
		abs, err := filepath.Abs(o.Source)
		if err != nil {
			return nil, fmt.Errorf("jobs: %w", err)
		}
		st, err := os.Stat(abs)
		if err != nil || !st.Mode().IsRegular() {
			return nil, fmt.Errorf("jobs: %s is not a file to upload", o.Source)
		}
		j.Source, j.Dest, j.BytesTotal = abs, abs, st.Size()
	default:
		return nil, fmt.Errorf("jobs: unknown kind %q", o.Kind)
	}
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
	oj, err := json.Marshal(j.Options)
	if err != nil {
		return err
	}
	sealed, err := s.seal(j.ID, &j.Client)
	if err != nil {
		return err
	}
	_, err = s.db.ExecContext(ctx, `INSERT INTO jobs (`+columns+`, secrets) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
		j.ID, j.URL, j.Dest, string(j.State), j.BytesDone, j.BytesTotal, j.Error, j.Attempts, unix(j.NextTry),
		j.Created.Unix(), j.Modified.Unix(), string(cj), j.ETag, j.LastModified, int(j.Priority), string(oj), j.Session, sealed)
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

// ErrChanged is returned by the worker's writes when the job left the
// transferring state meanwhile (cancelled, for one).
var ErrChanged = errors.New("jobs: the job was changed by another command")

// ErrState is returned when a command does not apply to a job's state.
var ErrState = errors.New("jobs: not in a state for this")

// execer is *sql.DB or *sql.Tx.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// write stores a job's progress and state (not its settings) when its
// state is still one of from (none: any).
func write(ctx context.Context, db execer, j *Job, from ...State) error {
	j.Modified = time.Now().UTC().Truncate(time.Second)
	q := `UPDATE jobs SET state=?, bytes_done=?, bytes_total=?, error=?, attempts=?, next_try=?,
		modified=?, etag=?, last_modified=?, session=? WHERE id=?`
	args := []any{string(j.State), j.BytesDone, j.BytesTotal, j.Error, j.Attempts, unix(j.NextTry), j.Modified.Unix(),
		j.ETag, j.LastModified, j.Session, j.ID}
	if len(from) > 0 {
		q += ` AND state IN (` + strings.TrimSuffix(strings.Repeat("?,", len(from)), ",") + `)`
		for _, f := range from {
			args = append(args, string(f))
		}
	}
	res, err := db.ExecContext(ctx, q, args...)
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrChanged
	}
	return nil
}

// save is the worker's write: only while the job is still transferring.
func (s *Store) save(ctx context.Context, j *Job) error {
	return write(ctx, s.db, j, Transferring)
}

const columns = `id, url, dest, state, bytes_done, bytes_total, error, attempts, next_try, created, modified, client, etag, last_modified, priority, options, session`

func (s *Store) scan(row interface{ Scan(...any) error }, withSecrets bool) (*Job, error) {
	var j Job
	var state, cj, oj string
	var sealed []byte
	var next, created, modified int64
	var prio int
	if err := row.Scan(&j.ID, &j.URL, &j.Dest, &state, &j.BytesDone, &j.BytesTotal, &j.Error, &j.Attempts, &next,
		&created, &modified, &cj, &j.ETag, &j.LastModified, &prio, &oj, &j.Session, &sealed); err != nil {
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
	if err := json.Unmarshal([]byte(oj), &j.Options); err != nil {
		return nil, fmt.Errorf("jobs: job %s options: %w", j.ID, err)
	}
	j.Priority = Priority(prio)
	if j.Kind == "" {
		j.Kind = Download
	}
	if withSecrets {
		if err := s.unseal(j.ID, sealed, &j.Client); err != nil {
			return nil, err
		}
	}
	return &j, nil
}

const selectJob = `SELECT ` + columns + `, secrets FROM jobs`

// Get returns a job without its credentials.
func (s *Store) Get(ctx context.Context, id string) (*Job, error) {
	j, err := s.scan(s.db.QueryRowContext(ctx, selectJob+` WHERE id=?`, id), false)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return j, err
}

// List returns the jobs, oldest first, without their credentials.
func (s *Store) List(ctx context.Context) ([]*Job, error) {
	rows, err := s.db.QueryContext(ctx, selectJob+` ORDER BY created, id`)
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
// time has come, or transferring: a worker that died mid-transfer), by
// priority then age, with its credentials; nil when there is none. wake
// is the earliest time a transient error becomes runnable (zero: none).
func (s *Store) next(ctx context.Context, now time.Time) (j *Job, wake time.Time, err error) {
	j, err = s.scan(s.db.QueryRowContext(ctx, selectJob+`
		WHERE state IN ('queued','transferring') OR (state='transient_error' AND next_try<=?)
		ORDER BY priority, created, id LIMIT 1`, now.Unix()), true)
	if errors.Is(err, sql.ErrNoRows) {
		var w sql.NullInt64
		s.db.QueryRowContext(ctx, `SELECT MIN(next_try) FROM jobs WHERE state='transient_error'`).Scan(&w)
		if w.Valid && w.Int64 > 0 {
			wake = time.Unix(w.Int64, 0)
		}
		return nil, wake, nil
	}
	return j, time.Time{}, err
}

// transition moves job id from one of the states from to the state to in
// one transaction: the state is checked and changed by one UPDATE (which
// takes the write lock at once), then change, if any, runs on the job
// with its credentials (to do the file work, or alter the job) and its
// error rolls everything back. Every command's state change goes here.
func (s *Store) transition(ctx context.Context, id string, from []State, to State, change func(tx *sql.Tx, j *Job) error) (*Job, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	defer tx.Rollback()
	q := `UPDATE jobs SET state=? WHERE id=? AND state IN (` + strings.TrimSuffix(strings.Repeat("?,", len(from)), ",") + `)`
	args := []any{string(to), id}
	for _, f := range from {
		args = append(args, string(f))
	}
	res, err := tx.ExecContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		j, err := s.scan(tx.QueryRowContext(ctx, selectJob+` WHERE id=?`, id), false)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
		}
		if err != nil {
			return nil, err
		}
		names := make([]string, len(from))
		for i, f := range from {
			names[i] = string(f)
		}
		return nil, fmt.Errorf("%w: job %s is %s, not %s", ErrState, id, j.State, strings.Join(names, " or "))
	}
	j, err := s.scan(tx.QueryRowContext(ctx, selectJob+` WHERE id=?`, id), true)
	if err != nil {
		return nil, err
	}
	j.State = to
	if change != nil {
		err := change(tx, j)
		if err != nil && err != errGone {
			return nil, err
		}
		if err == errGone {
			return j, tx.Commit()
		}
	}
	j.State = to
	if err := write(ctx, tx, j); err != nil {
		return nil, err
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	j.Client.Server, j.Client.Proxy, j.Client.ServerByScheme, j.Client.ProxyByScheme, j.Client.Identity = nil, nil, nil, nil, nil
	return j, nil
}

// errGone is what a transition's change returns when it deleted the job.
var errGone = errors.New("jobs: deleted")

// Resume puts a job in error (or transient error) back in the queue.
func (s *Store) Resume(ctx context.Context, id string) error {
	_, err := s.transition(ctx, id, []State{Error, TransientError}, Queued, func(_ *sql.Tx, j *Job) error {
		j.NextTry, j.Error = time.Time{}, ""
		return nil
	})
	return err
}

// SetCredentials replaces a job's sealed credentials and identity with
// those of c (BITS's SetCredentials), and its implicit-scheme lists when c
// names any; a job in error goes back in the queue, as the new
// credentials may fix it. A job being transferred is refused (stop the
// worker first): its worker holds the old credentials.
func (s *Store) SetCredentials(ctx context.Context, id string, c client.Config) (*Job, error) {
	j, err := s.setCredentials(ctx, id, c, []State{Error, TransientError})
	if errors.Is(err, ErrState) {
		j, err = s.setCredentials(ctx, id, c, []State{Queued})
	}
	return j, err
}

func (s *Store) setCredentials(ctx context.Context, id string, c client.Config, from []State) (*Job, error) {
	return s.transition(ctx, id, from, Queued, func(tx *sql.Tx, j *Job) error {
		j.Client.Server, j.Client.Proxy, j.Client.ServerByScheme, j.Client.ProxyByScheme, j.Client.Identity =
			c.Server, c.Proxy, c.ServerByScheme, c.ProxyByScheme, c.Identity
		if len(c.ServerImplicit) > 0 || len(c.ProxyImplicit) > 0 {
			j.Client.ServerImplicit, j.Client.ProxyImplicit = c.ServerImplicit, c.ProxyImplicit
		}
		sealed, err := s.seal(j.ID, &j.Client)
		if err != nil {
			return err
		}
		cj, err := json.Marshal(j.Client)
		if err != nil {
			return err
		}
		j.NextTry, j.Error = time.Time{}, ""
		_, err = tx.ExecContext(ctx, `UPDATE jobs SET secrets=?, client=? WHERE id=?`, sealed, string(cj), j.ID)
		return err
	})
}

// Complete moves a transferred download's file into place (BITS's
// Complete); for an upload it only acknowledges.
func (s *Store) Complete(ctx context.Context, id string) (*Job, error) {
	return s.transition(ctx, id, []State{Transferred}, Acknowledged, func(_ *sql.Tx, j *Job) error {
		if j.Kind == Upload {
			return nil
		}
		if err := os.Rename(j.PartPath(), j.Dest); err != nil {
			return fmt.Errorf("jobs: completing %s: %w", id, err)
		}
		return nil
	})
}

// Cancel stops a job and removes its partial data; a completed job is
// left as it is. A worker transferring it stops at its next write.
func (s *Store) Cancel(ctx context.Context, id string) error {
	_, err := s.transition(ctx, id, []State{Queued, Transferring, TransientError, Error, Transferred}, Cancelled, func(_ *sql.Tx, j *Job) error {
		if j.Kind == Upload {
			return nil // the server drops an abandoned session
		}
		if err := os.Remove(j.PartPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("jobs: %w", err)
		}
		return nil
	})
	return err
}

// Remove forgets an acknowledged or cancelled job.
func (s *Store) Remove(ctx context.Context, id string) error {
	_, err := s.transition(ctx, id, []State{Acknowledged, Cancelled}, Cancelled, func(tx *sql.Tx, j *Job) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM jobs WHERE id=?`, id); err != nil {
			return err
		}
		return errGone
	})
	return err
}
