package client

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadCredentialsFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
		return p
	}
	c, err := LoadCredentialsFile(write("ok", "EXAMPLE\\svc\r\nS3cret pw\r\n", 0o600))
	if err != nil || c.User != `EXAMPLE\svc` || c.Password != "S3cret pw" {
		t.Fatalf("got %+v, %v", c, err)
	}
	for _, tc := range []struct {
		name, content string
		mode          os.FileMode
		want          string
	}{
		{"readable", "u\nsecret-pw\n", 0o644, "chmod 600"},
		{"one line", "u\n", 0o600, "second"},
		{"empty user", "\nsecret-pw\n", 0o600, "first line"},
		{"empty", "", 0o600, "empty"},
	} {
		_, err := LoadCredentialsFile(write(tc.name, tc.content, tc.mode))
		if !errors.Is(err, ErrCredentialsFile) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v", tc.name, err)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("%s: the error shows the password: %v", tc.name, err)
		}
	}
	if _, err := LoadCredentialsFile(dir); err == nil {
		t.Error("a directory was taken")
	}
}
