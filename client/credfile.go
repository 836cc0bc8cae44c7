package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
)

// maxCredentialsFile bounds a credentials file: two short lines.
const maxCredentialsFile = 64 << 10

// ErrCredentialsFile is wrapped by every LoadCredentialsFile error.
var ErrCredentialsFile = errors.New("client: credentials file")

// LoadCredentialsFile reads an account from path: the user name
// ("DOMAIN\user", "user@REALM" or "user") on the first line and the
// password on the second (a trailing CR or LF is not part of it). The file
// must be a regular file that only its owner can read or write (0600 or
// stricter): a password readable by others is refused rather than used.
// Errors name the file and the problem, never its content.
func LoadCredentialsFile(path string) (*Credentials, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCredentialsFile, path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%w %s: %v", ErrCredentialsFile, path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%w %s: not a regular file", ErrCredentialsFile, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w %s: mode %04o lets other users read or change it (chmod 600)", ErrCredentialsFile, path, perm)
	}
	b := make([]byte, maxCredentialsFile+1)
	n, err := f.Read(b)
	if err != nil && n == 0 {
		return nil, fmt.Errorf("%w %s: empty", ErrCredentialsFile, path)
	}
	if n > maxCredentialsFile {
		return nil, fmt.Errorf("%w %s: over %d bytes", ErrCredentialsFile, path, maxCredentialsFile)
	}
	sc := bufio.NewScanner(bytes.NewReader(b[:n]))
	var lines []string
	for sc.Scan() && len(lines) < 3 {
		lines = append(lines, strings.TrimSuffix(sc.Text(), "\r"))
	}
	clear(b)
	if len(lines) < 2 || strings.TrimSpace(lines[0]) == "" || lines[1] == "" {
		return nil, fmt.Errorf("%w %s: want the user name on the first line and the password on the second", ErrCredentialsFile, path)
	}
	return &Credentials{User: strings.TrimSpace(lines[0]), Password: lines[1]}, nil
}
