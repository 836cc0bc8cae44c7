package daemon

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/jcmturner/gokrb5/v8/keytab"

	"github.com/gatehouse-auth/gatehouse/client"
	"github.com/gatehouse-auth/gatehouse/config"
	"github.com/gatehouse-auth/gatehouse/internal/seal"
	"github.com/gatehouse-auth/gatehouse/krb"
	"github.com/gatehouse-auth/gatehouse/server"
)

// Check validates what cfg names without serving and without creating
// any file: files readable, keytab parses, certificates and CRLs load,
// static roots exist, helpers are found; then the Gate is built as a
// start would build it. It returns one message per problem, none when
// cfg would start. Directory and KDC reachability are not checked.
func Check(cfg *config.Config) []string {
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	readable := func(key, p string) bool {
		f, err := os.Open(p)
		if err != nil {
			add("%s: %v", key, err)
			return false
		}
		f.Close()
		return true
	}
	stateDir := cfg.Path(cfg.StateDir)
	for _, name := range []string{"secret.key", "session.keys"} {
		p := filepath.Join(stateDir, name)
		if b, err := os.ReadFile(p); err == nil {
			if _, err := seal.ParseKeys(b, p); err != nil {
				add("state_dir: %v", err)
			}
		} else if !errors.Is(err, os.ErrNotExist) {
			add("state_dir: %v", err)
		}
	}
	if _, err := clusterCAs(cfg); err != nil {
		add("%s", strings.TrimPrefix(err.Error(), "daemon: "))
	}
	if _, err := os.Stat(cfg.Path(cfg.Accounts)); err != nil && !errors.Is(err, os.ErrNotExist) {
		add("accounts: %v", err)
	}
	for i, l := range cfg.Listen {
		if l.TLS != nil && l.TLS.Cert != "" {
			if _, err := loadCert(i, l, cfg, stateDir, slog.New(slog.NewTextHandler(io.Discard, nil)), true); err != nil {
				add("%s", strings.TrimPrefix(err.Error(), "daemon: "))
			}
		}
		if l.ClientCA != "" {
			readable(fmt.Sprintf("listen[%d].client_ca", i), cfg.Path(l.ClientCA))
		}
	}
	if cfg.Kerberos.Keytab != "" {
		p := cfg.Path(cfg.Kerberos.Keytab)
		if b, err := os.ReadFile(p); err != nil {
			add("kerberos.keytab: %v", err)
		} else {
			kt := keytab.New()
			if err := kt.Unmarshal(b); err != nil {
				add("kerberos.keytab %s: %v", p, err)
			} else if _, err := krb.NewAcceptor(krb.Config{Keytab: kt, Principals: cfg.Kerberos.ServicePrincipals}); err != nil {
				add("kerberos.keytab %s: %v", p, err)
			}
		}
	}
	if cfg.Kerberos.Krb5Conf != "" {
		if readable("kerberos.krb5_conf", cfg.Path(cfg.Kerberos.Krb5Conf)) {
			if _, err := client.LoadKrb5Config(cfg.Path(cfg.Kerberos.Krb5Conf)); err != nil {
				add("kerberos.krb5_conf: %v", err)
			}
		}
	}
	if cfg.NTLM.Verifier == "winbind" {
		if argv := strings.Fields(cfg.NTLM.NTLMAuth); len(argv) == 0 {
			add("ntlm.ntlm_auth: empty")
		} else if _, err := exec.LookPath(argv[0]); err != nil {
			add("ntlm.ntlm_auth: %v", err)
		}
	}
	for i, p := range cfg.Certificate.CRL {
		if _, err := server.LoadCRLs([]string{cfg.Path(p)}); err != nil {
			add("certificate.crl[%d]: %v", i, err)
		}
	}
	for i, s := range cfg.Sites {
		key := fmt.Sprintf("sites[%d] (%s)", i, s.Path)
		if s.Handler == "static" || s.Handler == "bits_upload" {
			if _, err := os.Stat(cfg.Path(s.Root)); err != nil {
				add("%s.root: %v", key, err)
			}
		}
		if s.Handler == "proxy" {
			if _, err := url.Parse(s.Upstream); err != nil {
				add("%s.upstream: %v", key, err)
			}
		}
	}
	if len(problems) > 0 {
		return problems
	}
	g, err := build(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), krb.NewReplayCache(1024), nil, nil, true)
	if err != nil {
		return []string{strings.TrimPrefix(err.Error(), "daemon: ")}
	}
	g.retire()
	return nil
}
