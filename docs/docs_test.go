package docs

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/internal/testenv"
)

// bin is the gatehouse binary built once for all tests, in binDir.
var bin, binDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gatehouse-docs-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binDir = filepath.Join(dir, "bin")
	bin = filepath.Join(binDir, "gatehouse")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/gatehouse").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building gatehouse: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// block is one fenced code block of a Markdown file.
type block struct {
	file string
	line int      // of the opening fence, from 1
	info []string // the info string's words: ["sh", "run"], ["yaml"]…
	text string
}

func (b block) lang() string {
	if len(b.info) == 0 {
		return ""
	}
	return b.info[0]
}

func (b block) has(word string) bool {
	for _, w := range b.info[min(1, len(b.info)):] {
		if w == word || strings.HasPrefix(w, word+"=") {
			return true
		}
	}
	return false
}

// option returns the value of word=VALUE in the info string.
func (b block) option(word string) string {
	for _, w := range b.info {
		if v, ok := strings.CutPrefix(w, word+"="); ok {
			return v
		}
	}
	return ""
}

func (b block) String() string { return fmt.Sprintf("%s:%d", b.file, b.line) }

var fenceRE = regexp.MustCompile("^ {0,3}(```+|~~~+)\\s*(.*)$")

// blocks returns the fenced blocks of a Markdown file, in order.
func blocks(t *testing.T, path string) []block {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []block
	var cur *block
	var fence string
	var body strings.Builder
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if cur == nil {
			if m := fenceRE.FindStringSubmatch(line); m != nil {
				cur = &block{file: path, line: n, info: strings.Fields(m[2])}
				fence = m[1]
				body.Reset()
			}
			continue
		}
		if t := strings.TrimSpace(line); strings.HasPrefix(t, fence) && strings.Trim(t, fence[:1]) == "" {
			cur.text = body.String()
			out = append(out, *cur)
			cur = nil
			continue
		}
		body.WriteString(line + "\n")
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if cur != nil {
		t.Errorf("%s: the block opened here is never closed", cur)
	}
	return out
}

// manual is the README and every Markdown file in docs/.
func manual(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{"../README.md", "../CONTRIBUTING.md"}, files...)
}

// TestRunnableBlocks runs, for each file of the manual, its "sh run"
// blocks in order as one bash script (`set -e`: the first failing command
// fails the test), as a reader pasting them into one terminal would. The
// README's run from the repository's root (its quick start builds the
// binary there); the guides' from an empty home directory with the
// binary on PATH. HOME, XDG_CONFIG_HOME and XDG_STATE_HOME are that
// temporary directory. Every process the script leaves behind (a server
// started with `&`) is stopped when it ends.
func TestRunnableBlocks(t *testing.T) {
	for _, file := range manual(t) {
		var script []block
		for _, b := range blocks(t, file) {
			if b.lang() == "sh" && b.has("run") {
				script = append(script, b)
			}
		}
		if len(script) == 0 {
			continue
		}
		t.Run(filepath.Base(file), func(t *testing.T) { runScript(t, file, script) })
	}
}

func runScript(t *testing.T, file string, script []block) {
	testenv.LookPath(t, "bash")
	for _, b := range script {
		for _, need := range strings.Split(b.option("needs"), ",") {
			if need != "" {
				testenv.LookPath(t, need)
			}
		}
	}
	// Examples use the embedded default's ports (8080, 8443) as a reader
	// would: take turns with the other tests that do.
	testenv.DefaultPorts(t)
	home := t.TempDir()
	goEnv := map[string]string{}
	for _, k := range []string{"GOCACHE", "GOMODCACHE", "GOPATH"} {
		out, err := exec.Command("go", "env", k).Output()
		if err != nil {
			t.Fatalf("go env %s: %v", k, err)
		}
		goEnv[k] = strings.TrimSpace(string(out))
	}
	var src strings.Builder
	src.WriteString("set -e -o pipefail\n")
	for _, b := range script {
		fmt.Fprintf(&src, "# --- %s\n%s", b, b.text)
	}
	scriptPath := filepath.Join(t.TempDir(), "script.sh")
	if err := os.WriteFile(scriptPath, []byte(src.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := home
	if filepath.Base(file) == "README.md" {
		dir = root
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-x", scriptPath)
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "PATH", "GOCACHE", "GOMODCACHE", "GOPATH", "KRB5CCNAME":
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_STATE_HOME="+filepath.Join(home, ".local", "state"),
		"PATH="+binDir+string(os.PathListSeparator)+os.Getenv("PATH"),
		"KRB5CCNAME=FILE:"+filepath.Join(home, "krb5cc"))
	for k, v := range goEnv {
		env = append(env, k+"="+v)
	}
	cmd.Env = env
	// A file, not a pipe: a server left running in the background keeps
	// its copy of stdout open, and Wait must not wait for it.
	out, err := os.Create(filepath.Join(t.TempDir(), "output"))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	runErr := cmd.Wait()
	stopGroup(t, cmd.Process.Pid)
	if runErr != nil {
		b, _ := os.ReadFile(out.Name())
		t.Errorf("%s: the runnable blocks failed: %v\n--- script\n%s--- output (bash -x)\n%s", file, runErr, src.String(), b)
		logs, _ := filepath.Glob(filepath.Join(home, "*", "*.log"))
		more, _ := filepath.Glob(filepath.Join(home, "*.log"))
		for _, l := range append(logs, more...) {
			b, _ := os.ReadFile(l)
			t.Logf("--- %s\n%s", l, b)
		}
	}
}

// stopGroup ends every process left in the script's process group: SIGTERM
// (a server shuts down gracefully), then SIGKILL for what remains after
// 15 seconds.
func stopGroup(t *testing.T, pgid int) {
	if err := syscall.Kill(-pgid, syscall.SIGTERM); errors.Is(err, syscall.ESRCH) {
		return
	}
	for deadline := time.Now().Add(15 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if err := syscall.Kill(-pgid, 0); errors.Is(err, syscall.ESRCH) {
			return
		}
	}
	t.Errorf("processes of the script ignored SIGTERM; killing them")
	syscall.Kill(-pgid, syscall.SIGKILL)
}

// TestConfigExamples loads every YAML block of the manual:
//   - "yaml": a whole server config, which `gatehouse serve --config FILE
//     --check` must accept. The files it names (keytab, certificates, CRLs,
//     password files, static roots) are made for the check: see fixtures.
//   - "yaml fragment": part of a server config (top-level keys): decoded
//     into the config with unknown keys refused, then completed with a
//     listener and a site (anonymous and negotiate) when it has none, and
//     checked with --check as a whole one.
//   - "yaml client": a client.yaml, parsed as `gatehouse get` does.
func TestConfigExamples(t *testing.T) {
	n := 0
	for _, file := range manual(t) {
		for _, b := range blocks(t, file) {
			if b.lang() != "yaml" && b.lang() != "yml" {
				continue
			}
			n++
			switch {
			case b.has("fragment"):
				var c config.Config
				dec := yaml.NewDecoder(strings.NewReader(b.text))
				dec.KnownFields(true)
				if err := dec.Decode(&c); err != nil {
					t.Errorf("%s: config fragment: %v\n%s", b, err, b.text)
					continue
				}
				// completed with a listener and a site, it must pass --check too
				whole := b
				if len(c.Listen) == 0 {
					whole.text += "listen: [{addr: 127.0.0.1:8080}]\n"
				}
				if len(c.Sites) == 0 {
					whole.text += "sites: [{path: /, auth: [anonymous, negotiate]}]\n"
				}
				t.Run(strings.TrimPrefix(b.String(), "../"), func(t *testing.T) { checkConfig(t, whole) })
			case b.has("client"):
				if _, err := client.ParsePolicy([]byte(b.text)); err != nil {
					t.Errorf("%s: client.yaml: %v\n%s", b, err, b.text)
				}
			case len(b.info) > 1:
				t.Errorf("%s: unknown yaml block kind %q (yaml, yaml fragment or yaml client)", b, b.info[1:])
			default:
				t.Run(strings.TrimPrefix(b.String(), "../"), func(t *testing.T) { checkConfig(t, b) })
			}
		}
	}
	if n == 0 {
		t.Fatal("no yaml block found: is the manual where the test looks?")
	}
}

func checkConfig(t *testing.T, b block) {
	dir := t.TempDir()
	fx := &fixtures{t: t, dir: dir}
	path := fx.config(b.text)
	cmd := exec.Command(bin, "serve", "--config", path, "--check")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("configuration ok")) {
		cfg, _ := os.ReadFile(path)
		t.Errorf("%s: gatehouse serve --check refuses the example: %v\n%s--- as checked (paths moved into a temporary directory)\n%s", b, err, out, cfg)
	}
}

var linkRE = regexp.MustCompile(`\]\(([^)#\s]+)(#[^)\s]*)?\)`)

// TestLinks: every relative link of the manual names a file that exists.
func TestLinks(t *testing.T) {
	for _, file := range manual(t) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range linkRE.FindAllStringSubmatch(string(b), -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(file), target)); err != nil {
				t.Errorf("%s: link to %s: %v", file, target, err)
			}
		}
	}
}

// TestREADMEFirst: the README opens with the two commands a newcomer
// needs, serve on the embedded default and the test command, in that
// order, before anything else.
func TestREADMEFirst(t *testing.T) {
	bs := blocks(t, "../README.md")
	if len(bs) == 0 {
		t.Fatal("README.md has no code block")
	}
	lines := strings.Split(strings.TrimSpace(bs[0].text), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "go run ./cmd/gatehouse serve") || !strings.HasPrefix(lines[1], "scripts/test.sh") {
		t.Errorf("README.md's first block is not the two commands (serve, scripts/test.sh):\n%s", bs[0].text)
	}
}

// TestEveryKeyDocumented: every key of the server config (config.Config's
// yaml names, nested) appears in CONFIG.md's reference block, the first
// yaml block under "## Config file (YAML)", or in a yaml fragment of
// CONFIG.md.
func TestEveryKeyDocumented(t *testing.T) {
	documented := map[string]bool{}
	inReference := false
	seenRef := false
	for _, b := range blocks(t, "CONFIG.md") {
		if b.lang() != "yaml" || b.has("client") {
			continue
		}
		if !seenRef && !b.has("fragment") {
			inReference, seenRef = true, true
		} else {
			inReference = b.has("fragment")
		}
		if !inReference {
			continue
		}
		var n yaml.Node
		if err := yaml.Unmarshal([]byte(b.text), &n); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		yamlKeys(&n, "", documented)
	}
	want := map[string]bool{}
	structKeys(reflect.TypeOf(config.Config{}), "", want)
	// allow and deny rules have the same keys, at the top and in sites
	norm := func(k string) string {
		k = strings.TrimPrefix(k, "sites.")
		k = strings.Replace(k, "authorization.allow", "authorization.RULE", 1)
		return strings.Replace(k, "authorization.deny", "authorization.RULE", 1)
	}
	docNorm := map[string]bool{}
	for k := range documented {
		docNorm[norm(k)] = true
	}
	var missing []string
	for k := range want {
		if !documented[k] && !docNorm[norm(k)] {
			missing = append(missing, k)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("config keys missing from docs/CONFIG.md's reference block (with their default and an example):\n  %s", strings.Join(missing, "\n  "))
	}
}

// yamlKeys collects the key paths of a YAML document: "listen.tls.cert";
// sequences add nothing to the path.
func yamlKeys(n *yaml.Node, prefix string, out map[string]bool) {
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for _, c := range n.Content {
			yamlKeys(c, prefix, out)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := prefix + n.Content[i].Value
			out[k] = true
			yamlKeys(n.Content[i+1], k+".", out)
		}
	}
}

// structKeys collects the yaml key paths of a config type.
func structKeys(t reflect.Type, prefix string, out map[string]bool) {
	for t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return
	}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if name == "" || name == "-" || !f.IsExported() {
			continue
		}
		out[prefix+name] = true
		ft := f.Type
		for ft.Kind() == reflect.Pointer || ft.Kind() == reflect.Slice {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft.PkgPath() == t.PkgPath() {
			structKeys(ft, prefix+name+".", out)
		}
	}
}

// TestIndexed: every page of docs/ is linked from the manual's index and
// from the README's list of where to go next.
func TestIndexed(t *testing.T) {
	pages, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	index, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pages {
		if p == "README.md" {
			continue
		}
		if !strings.Contains(string(index), "]("+p+")") {
			t.Errorf("docs/README.md does not link %s", p)
		}
		if !strings.Contains(string(readme), "](docs/"+p+")") {
			t.Errorf("README.md does not link docs/%s", p)
		}
	}
}

var (
	codeSpanRE = regexp.MustCompile("`(gatehouse [^`]+)`")
	wordRE     = regexp.MustCompile(`^[a-z][a-z-]*$`)
	flagRE     = regexp.MustCompile(`^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$`)
)

// TestCommandLines: every `gatehouse …` command line of the manual, in
// shell blocks (run or not) and in code spans, names a command that
// exists and only flags that its --help lists.
func TestCommandLines(t *testing.T) {
	helpOf := map[string]string{}
	usage := func(path []string) string {
		k := strings.Join(path, " ")
		if h, ok := helpOf[k]; ok {
			return h
		}
		out, _ := exec.Command(bin, append(append([]string{}, path...), "--help")...).Output()
		helpOf[k] = string(out)
		return helpOf[k]
	}
	root := usage(nil)
	check := func(where, line string) {
		i := strings.Index(line, "gatehouse ")
		if i < 0 || i > 0 && !strings.ContainsRune(" \t|;&($`'", rune(line[i-1])) {
			return
		}
		words := strings.Fields(line[i+len("gatehouse "):])
		var path []string
		for len(words) > 0 && wordRE.MatchString(words[0]) && len(path) < 2 {
			if len(path) == 0 && !strings.Contains(root, "\n  "+words[0]+" ") {
				if strings.Contains(root, words[0]) {
					break
				}
				t.Errorf("%s: `gatehouse %s`: no such command", where, words[0])
				return
			}
			path = append(path, words[0])
			words = words[1:]
		}
		if len(path) == 0 {
			return
		}
		text := usage(path)
		for _, w := range words {
			if strings.ContainsAny(w[:1], "|;&<>#)") || w == "--" {
				break
			}
			m := flagRE.FindStringSubmatch(w)
			if m == nil {
				continue
			}
			if !regexp.MustCompile(`(^|[^A-Za-z0-9-])--?` + regexp.QuoteMeta(m[1]) + `([^A-Za-z0-9-]|$)`).MatchString(text) {
				t.Errorf("%s: `gatehouse %s … %s`: not a flag in `gatehouse %s --help`", where, strings.Join(path, " "), w, strings.Join(path, " "))
			}
		}
	}
	for _, file := range manual(t) {
		for _, b := range blocks(t, file) {
			if b.lang() != "sh" {
				continue
			}
			for n, line := range strings.Split(b.text, "\n") {
				check(fmt.Sprintf("%s:%d", b.file, b.line+1+n), line)
			}
		}
		text, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range codeSpanRE.FindAllStringSubmatch(string(text), -1) {
			check(file, m[1])
		}
	}
}

// TestQuickStartBrowser is the README quick start's browser step: a real
// browser (Chromium's headless shell, the credentials in the URL since it
// cannot show a sign-in dialog) on /whoami of the embedded default, after
// `gatehouse accounts add alice`, shows the page naming alice.
func TestQuickStartBrowser(t *testing.T) {
	chrome := testenv.File(t, "/usr/lib/chromium/chromium-headless-shell", "Debian's chromium-headless-shell")
	testenv.DefaultPorts(t)
	dir := t.TempDir()
	add := exec.Command(bin, "accounts", "add", "alice", "--password-stdin", "--group", "Admins")
	add.Dir, add.Stdin = dir, strings.NewReader("alice-password\n")
	if out, err := add.CombinedOutput(); err != nil {
		t.Fatalf("accounts add: %v\n%s", err, out)
	}
	srv := exec.Command(bin, "serve")
	srv.Dir = dir
	log, err := os.Create(filepath.Join(dir, "gatehouse.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	srv.Stderr = log
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		srv.Process.Signal(syscall.SIGTERM)
		srv.Wait()
		if t.Failed() {
			b, _ := os.ReadFile(log.Name())
			t.Logf("server log:\n%s", b)
		}
	}()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if b, _ := os.ReadFile(log.Name()); bytes.Count(b, []byte("msg=listening")) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("gatehouse serve did not start")
		}
	}
	for _, u := range []string{"http://alice:alice-password@localhost:8080/whoami", "https://alice:alice-password@localhost:8443/whoami"} {
		out, err := exec.Command(chrome, "--no-sandbox", "--user-data-dir="+t.TempDir(), "--ignore-certificate-errors",
			"--disable-background-networking", "--disable-component-update", "--no-first-run", "--dump-dom", u).Output()
		if err != nil {
			t.Fatalf("%s: %v", u, err)
		}
		if m := regexp.MustCompile(`<td id="scheme">([A-Za-z]+)</td>`).FindStringSubmatch(string(out)); m != nil {
			t.Logf("%s: signed in with %s", u, m[1])
		}
		if !strings.Contains(string(out), "<h1>alice</h1>") || !strings.Contains(string(out), "Admins") {
			t.Errorf("%s: the page does not show alice and her group:\n%s", u, out)
		}
	}
}
