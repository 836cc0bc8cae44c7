package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// TestManPages: every command's page is its --help text, whole, and groff
// renders each page without a warning.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	if code := run([]string{"help", "--man-dir", filepath.Join(dir, "man1")}, nil, &bytes.Buffer{}, &stderr); code != 0 {
		t.Fatalf("help --man-dir: %d %s", code, stderr.String())
	}
	groff := testenv.LookPath(t, "groff")
	for _, cmd := range append([]string{""}, manCommands()...) {
		page := filepath.Join(dir, "man1", manName(cmd)+".1")
		b, err := os.ReadFile(page)
		if err != nil {
			t.Fatal(err)
		}
		if summary(cmd) == "" {
			t.Errorf("%s: no NAME line (add the command to manSummary)", page)
		}
		var out bytes.Buffer
		if code := run(append([]string{"help", "--man"}, strings.Fields(cmd)...), nil, &out, &stderr); code != 0 || !bytes.Equal(out.Bytes(), b) {
			t.Errorf("help --man %s (%d) differs from the page --man-dir wrote", cmd, code)
		}
		text, err := exec.Command(groff, "-man", "-Tutf8", "-ww", "-z", page).CombinedOutput()
		if err != nil || len(text) > 0 {
			t.Errorf("groff %s: %v\n%s", page, err, text)
		}
		rendered, err := exec.Command(groff, "-man", "-Tutf8", "-P-cbou", "-rLL=200n", page).Output()
		if err != nil {
			t.Fatal(err)
		}
		flat := squeeze(string(rendered))
		for k, h := range help {
			if k != cmd && !strings.HasPrefix(k, cmd+" ") || cmd == "" && k != "" {
				continue
			}
			for _, line := range strings.Split(h, "\n") {
				if l := squeeze(strings.TrimPrefix(line, "usage: ")); l != "" && !strings.HasSuffix(l, ":") && !strings.Contains(flat, l) {
					t.Errorf("%s: the --help line %q of %q is not in the page", page, line, k)
				}
			}
		}
	}
}

var spaces = regexp.MustCompile(`\s+`)

// squeeze folds runs of spaces (groff adjusts them) and the hyphen groff
// renders for \- back to ASCII.
func squeeze(s string) string {
	s = strings.NewReplacer("\u2010", "-", "\u2212", "-").Replace(s)
	return strings.TrimSpace(spaces.ReplaceAllString(s, " "))
}

// TestUnitDocumentation: the man pages dist/gatehouse.service lists are
// pages help --man-dir writes.
func TestUnitDocumentation(t *testing.T) {
	b, err := os.ReadFile("../../dist/gatehouse.service")
	if err != nil {
		t.Fatal(err)
	}
	pages := map[string]bool{}
	for _, c := range append([]string{""}, manCommands()...) {
		pages[manName(c)] = true
	}
	n := 0
	for _, m := range regexp.MustCompile(`man:([a-z-]+)\(1\)`).FindAllStringSubmatch(string(b), -1) {
		n++
		if !pages[m[1]] {
			t.Errorf("dist/gatehouse.service names man:%s(1), which help --man-dir does not write", m[1])
		}
	}
	if n == 0 {
		t.Error("dist/gatehouse.service names no man page in Documentation=")
	}
}
