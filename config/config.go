// Package config reads Gatehouse's YAML configuration (the keys of
// docs/CONFIG.md) and holds the embedded default that `gatehouse serve` runs
// with no file. It checks the file strictly (unknown keys, bad values) and
// reports errors with the key at fault; it does not build servers.
package config

import (
	"bytes"
	"crypto/tls"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/gatehouse-auth/gatehouse/authheader"
	"github.com/gatehouse-auth/gatehouse/authz"
)

//go:embed default.yaml
var defaultYAML []byte

// Config is the whole file.
type Config struct {
	// Cluster is the state several instances share (cluster.redis).
	Cluster            Cluster            `yaml:"cluster"`
	StateDir           string             `yaml:"state_dir"`
	Accounts           string             `yaml:"accounts"`
	Realm              string             `yaml:"realm"` // Basic and Digest realm; default: the account store's
	Listen             []Listener         `yaml:"listen"`
	Kerberos           Kerberos           `yaml:"kerberos"`
	NTLM               NTLM               `yaml:"ntlm"`
	Negotiate          Negotiate          `yaml:"negotiate"`
	ExtendedProtection ExtendedProtection `yaml:"extended_protection"`
	Log                Log                `yaml:"log"`
	Digest             Digest             `yaml:"digest"`
	SessionLifetime    time.Duration      `yaml:"session_lifetime"` // default 8h
	// SessionRevalidate: a session cookie's account is looked up again at
	// least this often (deleted, disabled, groups changed). Default 5m.
	SessionRevalidate time.Duration `yaml:"session_revalidate"`
	Certificate       Certificate   `yaml:"certificate"`
	Sites             []Site        `yaml:"sites"`
	// Front ends: forward auth, the signed identity, delegated ccaches.
	ForwardAuth   ForwardAuth    `yaml:"forward_auth"`
	IdentityToken *IdentityToken `yaml:"identity_token"` // present: tokens on
	Delegation    Delegation     `yaml:"delegation"`
	// TLSCipherSuites are the TLS 1.2 suites the listeners offer, by Go's
	// names (TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256…). Default: ECDHE with
	// AES-GCM or ChaCha20-Poly1305 only. TLS 1.3's suites are not
	// configurable (all are AEAD).
	TLSCipherSuites []string   `yaml:"tls_cipher_suites"`
	Directory       *Directory `yaml:"directory"`
	Basic           Basic      `yaml:"basic"`
	// Authorization applies to every site, after the site's own rules
	// and those of the sites enclosing it (ASP.NET's inheritance).
	Authorization []RuleYAML `yaml:"authorization"`
	// Admin is the listener of /metrics, /healthz and /readyz.
	Admin Admin `yaml:"admin"`
	// Limits bound what one request may cost.
	Limits Limits `yaml:"limits"`

	// Dir is the directory relative paths are resolved against (the
	// config file's, or the working directory for the default).
	Dir string `yaml:"-"`
}

// Directory is the LDAP directory domain users' groups come from.
type Directory struct {
	URL      string `yaml:"url"`       // ldaps://host[:port], or ldap:// with start_tls
	StartTLS bool   `yaml:"start_tls"` // StartTLS on an ldap:// URL
	CAFile   string `yaml:"ca_file"`   // CAs for the directory's certificate (default: system pool)
	Bind     string `yaml:"bind"`      // simple | kerberos (GSSAPI as kerberos.service_account)
	BindDN   string `yaml:"bind_dn"`
	// PasswordFile holds the bind password on its first line (never in
	// the YAML itself).
	PasswordFile string        `yaml:"password_file"`
	BaseDN       string        `yaml:"base_dn"` // default: the RootDSE's defaultNamingContext
	Cache        time.Duration `yaml:"cache"`   // how long a user's groups and a SID's name are kept (default 10m)
}

// Basic configures the Basic scheme.
type Basic struct {
	// Verifier checks passwords: local (the account store) or kerberos
	// (the KDC, with kerberos.keytab to verify its answer).
	Verifier string `yaml:"verifier"`
}

// Limits bound what one request may cost.
type Limits struct {
	// RequestBodyTimeout is the time a request body gets to start
	// (default 20s); after it, RequestBodyMinRate bytes per second
	// (default 500) must keep arriving, or the request ends (408), as
	// Apache's mod_reqtimeout body=20,MinRate=500.
	RequestBodyTimeout time.Duration `yaml:"request_body_timeout"`
	RequestBodyMinRate int64         `yaml:"request_body_min_rate"`
}

// ForwardAuth is the endpoint nginx auth_request, Caddy forward_auth and
// Traefik ForwardAuth call; on when Path is set.
type ForwardAuth struct {
	Path string `yaml:"path"`
	// TrustedProxies: addresses or CIDRs of the front ends; anyone else
	// gets 403 (the original request's headers are believed from them only).
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// IdentityToken configures the signed identity (ES256 JWT) sent with
// forward-auth answers and proxied requests.
type IdentityToken struct {
	// Key is a PEM file of EC P-256 private keys (first signs, all are
	// published); "" means state_dir/identity.key, generated once.
	Key      string        `yaml:"key"`
	Issuer   string        `yaml:"issuer"`   // default gatehouse
	Lifetime time.Duration `yaml:"lifetime"` // default 5m
}

// Delegation writes users' delegated Kerberos credentials for apps on the
// same host (mod_auth_gssapi's GssapiDelegCcacheDir).
type Delegation struct {
	CcacheDir string `yaml:"ccache_dir"`
}

// Listener is one address to serve on.
type Listener struct {
	Addr        string `yaml:"addr"`
	TLS         *TLS   `yaml:"tls"`
	ClientCerts string `yaml:"client_certs"` // none | optional | required
	// ClientCA is a PEM file of the CAs that issue client certificates:
	// advertised in the TLS handshake, and what certificate authentication
	// verifies against.
	ClientCA string `yaml:"client_ca"`
}

// Certificate configures certificate authentication.
type Certificate struct {
	// Map is where the user name comes from, first found wins: upn (SAN
	// otherName), email (SAN), cn (subject). Default [upn, email, cn].
	Map []string `yaml:"map"`
	// RequireAccount accepts only certificates whose name is a local
	// account (IIS one-to-one style); otherwise a local account, when it
	// exists, only adds its groups.
	RequireAccount bool `yaml:"require_account"`
	// CRL lists certificate revocation lists (PEM or DER files) of the
	// client CAs; a certificate their issuer revoked is refused.
	CRL []string `yaml:"crl"`
	// OCSP asks the OCSP responder a client certificate names whether it
	// is revoked; no answer refuses the certificate (fail closed).
	OCSP bool `yaml:"ocsp"`
}

// TLS names a certificate and key; both empty means a self-signed pair
// generated once into the state directory.
type TLS struct {
	Cert string `yaml:"cert"`
	Key  string `yaml:"key"`
}

// Kerberos configures Kerberos inside Negotiate.
type Kerberos struct {
	Keytab   string `yaml:"keytab"`
	Krb5Conf string `yaml:"krb5_conf"`
	// ServiceAccount is this service's own principal ("svc@REALM"), whose
	// keys are in Keytab: constrained delegation (upstream_auth:
	// constrained) logs in as it.
	ServiceAccount    string        `yaml:"service_account"`
	ServicePrincipals []string      `yaml:"service_principals"`
	ClockSkew         time.Duration `yaml:"clock_skew"`
	// ProtocolTransition lets constrained delegation act for users who
	// logged in without Kerberos (NTLM, Basic, Digest, certificates) by
	// S4U2Self: the account name is taken as a Kerberos name of the
	// service account's realm. Off by default: it trusts every scheme's
	// user names as the realm's.
	ProtocolTransition bool `yaml:"protocol_transition"`
	// ReplayCacheEntries bounds the Kerberos replay cache (authenticators
	// remembered for clock_skew; 32 bytes each). When it is full the
	// oldest are forgotten and anything as old is refused, never a fresh
	// authenticator. Default 1048576.
	ReplayCacheEntries int `yaml:"replay_cache_entries"`
}

// NTLM configures the NTLM acceptor.
type NTLM struct {
	Verifier    string `yaml:"verifier"` // local | winbind
	NTLMAuth    string `yaml:"ntlm_auth"`
	Domain      string `yaml:"domain"`
	AllowNTLMv1 bool   `yaml:"allow_ntlmv1"`
	// ConnectionAuth keeps a connection authenticated after an NTLM
	// handshake, for later requests on it (IIS's default); false makes
	// every request authenticate.
	ConnectionAuth *bool `yaml:"connection_auth"`
	// MaxPending bounds half-finished handshakes, all clients together
	// (default 10000); MaxPendingPerClient per client address (default
	// 64); HandshakeTimeout frees an unfinished handshake's slot, and
	// closes its connection, after this long (default 30s).
	MaxPending          int           `yaml:"max_pending"`
	MaxPendingPerClient int           `yaml:"max_pending_per_client"`
	HandshakeTimeout    time.Duration `yaml:"handshake_timeout"`
}

// Negotiate configures the Negotiate scheme.
type Negotiate struct {
	// Mechanisms taken inside SPNEGO: kerberos, ntlm (default both).
	Mechanisms []string `yaml:"mechanisms"`
}

// ExtendedProtection is the channel- and service-binding policy.
type ExtendedProtection struct {
	Enforcement  string   `yaml:"enforcement"` // never | when_supported | always
	Scenario     string   `yaml:"scenario"`    // transport_selected | trusted_proxy
	ServiceNames []string `yaml:"service_names"`
	// HostNames the server is reached by, added to the derived service
	// names (HTTP/name, HTTP/name:port).
	HostNames []string `yaml:"host_names"`
	// TrustedProxies: addresses or CIDRs of the front ends that terminate
	// TLS in the trusted_proxy scenario.
	TrustedProxies []string `yaml:"trusted_proxies"`
	// FrontEndCertificates: PEM files of the certificates the trusted
	// proxies present to clients; requests from them are then checked
	// for channel binding to these (trusted_proxy scenario only).
	FrontEndCertificates []string `yaml:"front_end_certificates"`
}

// Digest tunes the Digest scheme.
type Digest struct {
	// Algorithms offered, in order: SHA-256 and/or MD5 (default both,
	// SHA-256 first). Old clients that choke on SHA-256 may need [MD5].
	Algorithms []string `yaml:"algorithms"`
	// NonceLifetime before a nonce is answered with stale=true (default 5m).
	NonceLifetime time.Duration `yaml:"nonce_lifetime"`
}

// Log configures log/slog output.
type Log struct {
	Level  string `yaml:"level"`  // debug | info | warn | error
	Format string `yaml:"format"` // text | json
	// Access logs one line per request (msg=access) in the same format.
	Access bool `yaml:"access"`
}

// Admin is the operational listener: /metrics, /healthz, /readyz. With
// an address set they are served there only, never on the public
// listeners.
type Admin struct {
	Addr string `yaml:"addr"`
}

// Cluster is the shared state of several instances behind one balancer.
type Cluster struct {
	// Redis is redis://[user:password@]host:port[/db] or rediss:// (TLS);
	// the password may come from REDIS_PASSWORD instead.
	Redis string `yaml:"redis"`
	// CAFile is a PEM file of the CAs that issue the rediss:// server's
	// certificate; "" means the system's CAs (SSL_CERT_FILE honoured).
	CAFile string `yaml:"ca_file"`
}

// Site is one virtual directory.
type Site struct {
	Path          string     `yaml:"path"`
	Auth          []string   `yaml:"auth"`
	Authorization []RuleYAML `yaml:"authorization"`
	Handler       string     `yaml:"handler"` // whoami | static | proxy | bits_upload
	Root          string     `yaml:"root"`
	Upstream      string     `yaml:"upstream"`
	// FileAuthorization checks, for the static handler, that the user's
	// Unix account may read the file (ASP.NET's FileAuthorizationModule).
	FileAuthorization bool `yaml:"file_authorization"`
	// MaxUploadSize bounds a file of the bits_upload handler, in bytes
	// (0: 1 GiB); UploadSessionTimeout drops an upload session left alone
	// that long (0: 24h).
	MaxUploadSize        int64         `yaml:"max_upload_size"`
	UploadSessionTimeout time.Duration `yaml:"upload_session_timeout"`
	// UpstreamAuth is how the proxy authenticates to the upstream: none
	// (identity headers only) or negotiate (Kerberos as the user, with the
	// TGT the user delegated; "double hop").
	UpstreamAuth string `yaml:"upstream_auth"`
	// UpstreamSPN is the upstream's service principal (default
	// HTTP/<upstream host>).
	UpstreamSPN string `yaml:"upstream_spn"`
	// UpstreamCredentials is the file of upstream_auth: credentials: the
	// account ("DOMAIN\user", "user@REALM" or "user") on its first line
	// and its password on the second; mode 0600 or stricter.
	UpstreamCredentials string `yaml:"upstream_credentials"`
	// BasicOverHTTP lets Basic be offered and accepted without TLS.
	BasicOverHTTP bool `yaml:"basic_over_http"`
	// Sessions: after a login, an encrypted expiring cookie spares the
	// next requests the authentication work (like GssapiUseSessions).
	Sessions bool `yaml:"sessions"`
}

// RuleYAML is one authorization list item: exactly one of allow / deny.
type RuleYAML struct {
	Allow *RuleBody `yaml:"allow"`
	Deny  *RuleBody `yaml:"deny"`
}

// RuleBody names who and which verbs a rule covers.
type RuleBody struct {
	Users []string `yaml:"users"`
	Roles []string `yaml:"roles"`
	Verbs []string `yaml:"verbs"`
}

// ErrInvalid wraps every validation error.
var ErrInvalid = errors.New("config: invalid")

// Load reads and validates a file.
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(b, filepath.Dir(abs), path)
}

// Default returns the embedded default, paths relative to the working
// directory.
func Default() (*Config, error) {
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(defaultYAML, wd, "(embedded default)")
}

// Parse decodes and validates YAML; dir resolves relative paths, name is
// used in messages.
func Parse(b []byte, dir, name string) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			// one problem a line: yaml.v3 lists them all in one error
			var errs []error
			for _, e := range te.Errors {
				errs = append(errs, errors.New(strings.TrimSpace(e)))
			}
			return nil, invalid(name, errors.Join(errs...))
		}
		return nil, invalid(name, err)
	}
	c.Dir = dir
	c.applyDefaults()
	if err := c.validate(); err != nil {
		return nil, invalid(name, err)
	}
	return &c, nil
}

// invalid wraps each of err's problems (errors.Join, nested or not) as
// "config: invalid: NAME: problem", joined again: one line per problem,
// each wrapping ErrInvalid.
func invalid(name string, err error) error {
	var out []error
	var walk func(error)
	walk = func(err error) {
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				walk(e)
			}
			return
		}
		out = append(out, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err))
	}
	walk(err)
	if len(out) == 1 {
		return out[0]
	}
	return errors.Join(out...)
}

func (c *Config) applyDefaults() {
	if c.StateDir == "" {
		c.StateDir = "./gatehouse-state"
	}
	if c.Accounts == "" {
		c.Accounts = "./gatehouse.db"
	}
	if c.Kerberos.ClockSkew == 0 {
		c.Kerberos.ClockSkew = 5 * time.Minute
	}
	if c.Kerberos.ReplayCacheEntries == 0 {
		c.Kerberos.ReplayCacheEntries = 1 << 20
	}
	if c.NTLM.Verifier == "" {
		c.NTLM.Verifier = "local"
	}
	if c.Basic.Verifier == "" {
		c.Basic.Verifier = "local"
	}
	if d := c.Directory; d != nil {
		if d.Bind == "" {
			d.Bind = "simple"
		}
		if d.Cache == 0 {
			d.Cache = 10 * time.Minute
		}
	}
	if c.NTLM.NTLMAuth == "" {
		c.NTLM.NTLMAuth = "/usr/bin/ntlm_auth"
	}
	if c.NTLM.MaxPending == 0 {
		c.NTLM.MaxPending = 10000
	}
	if c.NTLM.MaxPendingPerClient == 0 {
		c.NTLM.MaxPendingPerClient = 64
	}
	if c.NTLM.HandshakeTimeout == 0 {
		c.NTLM.HandshakeTimeout = 30 * time.Second
	}
	if len(c.Negotiate.Mechanisms) == 0 {
		c.Negotiate.Mechanisms = []string{"kerberos", "ntlm"}
	}
	if c.ExtendedProtection.Enforcement == "" {
		c.ExtendedProtection.Enforcement = "never"
	}
	if c.ExtendedProtection.Scenario == "" {
		c.ExtendedProtection.Scenario = "transport_selected"
	}
	if len(c.Digest.Algorithms) == 0 {
		c.Digest.Algorithms = []string{"SHA-256", "MD5"}
	}
	if c.Digest.NonceLifetime == 0 {
		c.Digest.NonceLifetime = 5 * time.Minute
	}
	if c.SessionLifetime == 0 {
		c.SessionLifetime = 8 * time.Hour
	}
	if c.SessionRevalidate == 0 {
		c.SessionRevalidate = 5 * time.Minute
	}
	if c.Limits.RequestBodyTimeout == 0 {
		c.Limits.RequestBodyTimeout = 20 * time.Second
	}
	if c.Limits.RequestBodyMinRate == 0 {
		c.Limits.RequestBodyMinRate = 500
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "text"
	}
	if c.IdentityToken != nil {
		if c.IdentityToken.Issuer == "" {
			c.IdentityToken.Issuer = "gatehouse"
		}
		if c.IdentityToken.Lifetime == 0 {
			c.IdentityToken.Lifetime = 5 * time.Minute
		}
	}
	for i := range c.Sites {
		s := &c.Sites[i]
		if s.Handler == "" {
			s.Handler = "whoami"
		}
		for j := range s.Auth {
			s.Auth[j] = strings.ToLower(strings.TrimSpace(s.Auth[j]))
		}
	}
}

func oneOf(key, v string, allowed ...string) error {
	for _, a := range allowed {
		if v == a {
			return nil
		}
	}
	return fmt.Errorf("%s: %q is not one of %s", key, v, strings.Join(allowed, " | "))
}

// maxNTLMPending bounds ntlm.max_pending and max_pending_per_client: a
// pending handshake holds a few hundred bytes and a timer, so a million
// is already hundreds of MiB; more is a typo, not a capacity plan.
const maxNTLMPending = 1 << 20

// collector gathers validation problems: every independent problem of a
// file is reported, not only the first (serve --check prints one a line).
func collector() (bad func(error), all func() error) {
	var errs []error
	return func(err error) {
			if err != nil {
				errs = append(errs, err)
			}
		}, func() error {
			return errors.Join(errs...)
		}
}

// validate returns every problem it finds, each naming its key, joined
// (errors.Join); nil when there is none.
func (c *Config) validate() error {
	bad, all := collector()
	if len(c.Listen) == 0 {
		bad(errors.New("listen: at least one listener is needed"))
	}
	if r := c.Cluster.Redis; r != "" {
		u, err := url.Parse(r)
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			bad(fmt.Errorf("cluster.redis: want redis://host:port[/db] or rediss://host:port[/db], not %q", redactURL(r)))
		}
	}
	if c.Cluster.CAFile != "" && !strings.HasPrefix(c.Cluster.Redis, "rediss://") {
		bad(errors.New("cluster.ca_file: only for a rediss:// (TLS) cluster.redis"))
	}
	seen := map[string]bool{}
	hasClientCA := false
	for i, l := range c.Listen {
		key := fmt.Sprintf("listen[%d]", i)
		if _, _, err := net.SplitHostPort(l.Addr); err != nil {
			bad(fmt.Errorf("%s.addr: %q: %v", key, l.Addr, err))
		}
		if seen[l.Addr] && !strings.HasSuffix(l.Addr, ":0") {
			bad(fmt.Errorf("%s.addr: %q listed twice", key, l.Addr))
		}
		seen[l.Addr] = true
		if l.TLS != nil && (l.TLS.Cert == "") != (l.TLS.Key == "") {
			bad(fmt.Errorf("%s.tls: give both cert and key, or neither for a self-signed pair", key))
		}
		if l.ClientCerts != "" {
			if l.TLS == nil {
				bad(fmt.Errorf("%s.client_certs: needs tls", key))
			}
			bad(oneOf(key+".client_certs", l.ClientCerts, "none", "optional", "required"))
		}
		if l.ClientCA != "" && (l.ClientCerts == "" || l.ClientCerts == "none") {
			bad(fmt.Errorf("%s.client_ca: needs client_certs: optional or required", key))
		}
		if l.ClientCA != "" {
			hasClientCA = true
		}
	}
	if c.Admin.Addr != "" {
		if _, _, err := net.SplitHostPort(c.Admin.Addr); err != nil {
			bad(fmt.Errorf("admin.addr: %q: %v", c.Admin.Addr, err))
		}
		if seen[c.Admin.Addr] && !strings.HasSuffix(c.Admin.Addr, ":0") {
			bad(fmt.Errorf("admin.addr: %q is also in listen", c.Admin.Addr))
		}
	}
	for j, r := range c.Authorization {
		if _, err := r.Rule(); err != nil {
			bad(fmt.Errorf("authorization[%d]: %v", j, err))
		}
	}
	for _, m := range c.Certificate.Map {
		bad(oneOf("certificate.map", m, "upn", "email", "cn"))
	}
	for i, s := range c.Sites {
		if slices.Contains(s.Auth, "certificate") && !hasClientCA {
			bad(fmt.Errorf("sites[%d].auth: certificate needs a listener with client_certs and client_ca (the CAs that issue client certificates)", i))
		}
	}
	bad(oneOf("ntlm.verifier", c.NTLM.Verifier, "local", "winbind"))
	bad(oneOf("basic.verifier", c.Basic.Verifier, "local", "kerberos"))
	if c.Basic.Verifier == "kerberos" && c.Kerberos.Keytab == "" {
		bad(errors.New("basic.verifier: kerberos needs kerberos.keytab (to verify the KDC's answer with a ticket for this service)"))
	}
	bad(c.validateDirectory())
	if n := c.NTLM.MaxPending; n < 1 || n > maxNTLMPending {
		bad(fmt.Errorf("ntlm.max_pending: %d is outside 1..%d (0: the default, 10000)", n, maxNTLMPending))
	}
	if n := c.NTLM.MaxPendingPerClient; n < 1 || n > maxNTLMPending {
		bad(fmt.Errorf("ntlm.max_pending_per_client: %d is outside 1..%d (0: the default, 64)", n, maxNTLMPending))
	}
	if d := c.NTLM.HandshakeTimeout; d < time.Second || d > time.Hour {
		bad(fmt.Errorf("ntlm.handshake_timeout: %v is outside 1s..1h (0: the default, 30s)", d))
	}
	for i, m := range c.Negotiate.Mechanisms {
		bad(oneOf(fmt.Sprintf("negotiate.mechanisms[%d]", i), m, "kerberos", "ntlm"))
	}
	if c.Kerberos.ClockSkew < 0 || c.Kerberos.ClockSkew > time.Hour {
		bad(fmt.Errorf("kerberos.clock_skew: %v is outside 0..1h", c.Kerberos.ClockSkew))
	}
	if n := c.Kerberos.ReplayCacheEntries; n < 1024 || n > 1<<28 {
		bad(fmt.Errorf("kerberos.replay_cache_entries: %d is outside 1024..268435456", n))
	}
	bad(oneOf("extended_protection.enforcement", c.ExtendedProtection.Enforcement, "never", "when_supported", "always"))
	bad(oneOf("extended_protection.scenario", c.ExtendedProtection.Scenario, "transport_selected", "trusted_proxy"))
	for i, p := range c.ExtendedProtection.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad(fmt.Errorf("extended_protection.trusted_proxies[%d]: %v", i, err))
		}
	}
	if c.ExtendedProtection.Scenario == "trusted_proxy" && len(c.ExtendedProtection.TrustedProxies) == 0 {
		bad(errors.New("extended_protection.trusted_proxies: the trusted_proxy scenario needs the proxies' addresses"))
	}
	if len(c.ExtendedProtection.FrontEndCertificates) > 0 && c.ExtendedProtection.Scenario != "trusted_proxy" {
		bad(errors.New("extended_protection.front_end_certificates: only for scenario: trusted_proxy (the front ends' certificates)"))
	}
	bad(oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error"))
	bad(oneOf("log.format", c.Log.Format, "text", "json"))
	for i, a := range c.Digest.Algorithms {
		bad(oneOf(fmt.Sprintf("digest.algorithms[%d]", i), a, "SHA-256", "MD5"))
	}
	if c.Digest.NonceLifetime < time.Second || c.Digest.NonceLifetime > 24*time.Hour {
		bad(fmt.Errorf("digest.nonce_lifetime: %v is outside 1s..24h", c.Digest.NonceLifetime))
	}
	if c.SessionLifetime < time.Minute || c.SessionLifetime > 30*24*time.Hour {
		bad(fmt.Errorf("session_lifetime: %v is outside 1m..720h", c.SessionLifetime))
	}
	if c.Limits.RequestBodyTimeout < 0 || c.Limits.RequestBodyMinRate < 0 {
		bad(errors.New("limits: request_body_timeout and request_body_min_rate cannot be negative (0: the default)"))
	}
	for i, name := range c.TLSCipherSuites {
		if _, err := CipherSuiteID(name); err != nil {
			bad(fmt.Errorf("tls_cipher_suites[%d]: %v", i, err))
		}
	}
	if c.SessionRevalidate < time.Second || c.SessionRevalidate > 24*time.Hour {
		bad(fmt.Errorf("session_revalidate: %v is outside 1s..24h", c.SessionRevalidate))
	}
	bad(c.validateFrontEnds())
	if len(c.Sites) == 0 {
		bad(errors.New("sites: at least one site is needed"))
	}
	paths := map[string]bool{}
	for i, s := range c.Sites {
		key := fmt.Sprintf("sites[%d] (%s)", i, s.Path)
		if !strings.HasPrefix(s.Path, "/") || strings.Contains(s.Path, "//") || strings.Contains(s.Path, "/../") || strings.HasSuffix(s.Path, "/..") {
			bad(fmt.Errorf("%s.path: must be a clean absolute path", key))
		}
		p := CleanSitePath(s.Path)
		if paths[p] {
			bad(fmt.Errorf("%s.path: listed twice", key))
		}
		paths[p] = true
		if len(s.Auth) == 0 {
			bad(fmt.Errorf("%s.auth: list at least one scheme (anonymous for none)", key))
		}
		dup := map[string]bool{}
		for _, a := range s.Auth {
			bad(oneOf(key+".auth", a, authheader.Schemes...))
			if dup[a] {
				bad(fmt.Errorf("%s.auth: %q listed twice", key, a))
			}
			dup[a] = true
		}
		for j, r := range s.Authorization {
			if _, err := r.Rule(); err != nil {
				bad(fmt.Errorf("%s.authorization[%d]: %v", key, j, err))
			}
		}
		bad(oneOf(key+".handler", s.Handler, "whoami", "static", "proxy", "bits_upload"))
		if s.Handler == "static" && s.Root == "" {
			bad(fmt.Errorf("%s.root: the static handler needs a root directory", key))
		}
		if s.Handler == "bits_upload" && s.Root == "" {
			bad(fmt.Errorf("%s.root: the bits_upload handler needs a root directory to upload into", key))
		}
		if (s.MaxUploadSize != 0 || s.UploadSessionTimeout != 0) && s.Handler != "bits_upload" {
			bad(fmt.Errorf("%s: max_upload_size and upload_session_timeout are for the bits_upload handler", key))
		}
		if s.MaxUploadSize < 0 || s.UploadSessionTimeout < 0 {
			bad(fmt.Errorf("%s: max_upload_size and upload_session_timeout cannot be negative", key))
		}
		if s.Handler == "proxy" && !strings.HasPrefix(s.Upstream, "http://") && !strings.HasPrefix(s.Upstream, "https://") {
			bad(fmt.Errorf("%s.upstream: the proxy handler needs an http:// or https:// upstream", key))
		}
		if s.UpstreamAuth != "" {
			bad(oneOf(key+".upstream_auth", s.UpstreamAuth, "none", "negotiate", "constrained", "service", "credentials"))
		}
		if s.FileAuthorization && s.Handler != "static" {
			bad(fmt.Errorf("%s.file_authorization: only for the static handler", key))
		}
		if (s.UpstreamAuth != "" || s.UpstreamSPN != "" || s.UpstreamCredentials != "") && s.Handler != "proxy" {
			bad(fmt.Errorf("%s: upstream_auth, upstream_spn and upstream_credentials are for the proxy handler", key))
		}
		if s.UpstreamAuth == "service" && (c.Kerberos.ServiceAccount == "" || c.Kerberos.Keytab == "") {
			bad(fmt.Errorf("%s.upstream_auth: service needs kerberos.keytab and kerberos.service_account (the account the proxy logs in as)", key))
		}
		if (s.UpstreamAuth == "credentials") != (s.UpstreamCredentials != "") {
			bad(fmt.Errorf("%s: upstream_auth: credentials and upstream_credentials go together", key))
		}
		if s.UpstreamAuth == "constrained" && (c.Kerberos.ServiceAccount == "" || c.Kerberos.Keytab == "") {
			bad(fmt.Errorf("%s.upstream_auth: constrained needs kerberos.keytab and kerberos.service_account", key))
		}
		if s.UpstreamAuth == "negotiate" || s.UpstreamAuth == "constrained" {
			if !slices.Contains(s.Auth, "negotiate") && !(s.UpstreamAuth == "constrained" && c.Kerberos.ProtocolTransition) {
				bad(fmt.Errorf("%s.upstream_auth: %s needs negotiate in auth (the user's Kerberos credentials)", key, s.UpstreamAuth))
			}
			if s.Sessions {
				bad(fmt.Errorf("%s: sessions cannot be used with upstream_auth: %s (Kerberos credentials are not kept in the cookie)", key, s.UpstreamAuth))
			}
		}
	}
	return all()
}

// DefaultTLSCipherSuites are the TLS 1.2 suites offered unless
// tls_cipher_suites says otherwise: forward secrecy (ECDHE) and AEAD only.
// Go's own default adds ECDHE with AES-CBC and HMAC-SHA1, which the
// Lucky13 family of padding-oracle attacks targets.
var DefaultTLSCipherSuites = []string{
	"TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
	"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
	"TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
	"TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
}

// CipherSuiteID returns the ID of a TLS 1.2 cipher suite named as Go
// names it (tls.CipherSuiteName), secure or not (naming one is the
// operator's choice).
func CipherSuiteID(name string) (uint16, error) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, cs := range list {
			if cs.Name == name && slices.Contains(cs.SupportedVersions, tls.VersionTLS12) {
				return cs.ID, nil
			}
		}
	}
	return 0, fmt.Errorf("%q is not a TLS 1.2 cipher suite Go knows (names like TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name)
}

// CipherSuiteIDs returns the IDs of tls_cipher_suites, or of
// DefaultTLSCipherSuites when it is empty.
func (c *Config) CipherSuiteIDs() []uint16 {
	names := c.TLSCipherSuites
	if len(names) == 0 {
		names = DefaultTLSCipherSuites
	}
	ids := make([]uint16, 0, len(names))
	for _, n := range names {
		if id, err := CipherSuiteID(n); err == nil {
			ids = append(ids, id)
		}
	}
	return ids
}

func (c *Config) validateDirectory() error {
	d := c.Directory
	if d == nil {
		return nil
	}
	bad, all := collector()
	switch {
	case d.URL == "":
		bad(errors.New("directory.url: needed (ldaps://host, or ldap://host with start_tls: true)"))
	case strings.HasPrefix(d.URL, "ldaps://"):
		if d.StartTLS {
			bad(fmt.Errorf("directory.start_tls: %s is already TLS; start_tls is for ldap:// URLs", d.URL))
		}
	case strings.HasPrefix(d.URL, "ldap://"):
		if !d.StartTLS {
			bad(fmt.Errorf("directory.url: %s is not encrypted; use ldaps:// or start_tls: true", d.URL))
		}
	default:
		bad(fmt.Errorf("directory.url: %q is not an ldaps:// or ldap:// URL", d.URL))
	}
	bad(oneOf("directory.bind", d.Bind, "simple", "kerberos"))
	switch d.Bind {
	case "simple":
		if d.BindDN == "" || d.PasswordFile == "" {
			bad(errors.New("directory: bind simple needs bind_dn and password_file"))
		}
	case "kerberos":
		if c.Kerberos.Keytab == "" || c.Kerberos.ServiceAccount == "" {
			bad(errors.New("directory.bind: kerberos needs kerberos.keytab and kerberos.service_account (the account that binds)"))
		}
		if d.BindDN != "" || d.PasswordFile != "" {
			bad(errors.New("directory: bind_dn and password_file are for bind simple"))
		}
	}
	if d.Cache < time.Second || d.Cache > 24*time.Hour {
		bad(fmt.Errorf("directory.cache: %v is outside 1s..24h", d.Cache))
	}
	return all()
}

// validateFrontEnds checks forward_auth, identity_token and delegation.
func (c *Config) validateFrontEnds() error {
	bad, all := collector()
	fa := c.ForwardAuth
	if fa.Path != "" {
		if !strings.HasPrefix(fa.Path, "/") || strings.Contains(fa.Path, "//") || strings.Contains(fa.Path, "/.") || strings.ContainsAny(fa.Path, "?#") {
			bad(fmt.Errorf("forward_auth.path: %q must be a clean absolute path", fa.Path))
		}
		if len(fa.TrustedProxies) == 0 {
			bad(errors.New("forward_auth.trusted_proxies: list the front ends' addresses (only they may call forward auth)"))
		}
	} else if len(fa.TrustedProxies) > 0 {
		bad(errors.New("forward_auth.trusted_proxies: set forward_auth.path too"))
	}
	for i, p := range fa.TrustedProxies {
		if _, err := ParsePrefix(p); err != nil {
			bad(fmt.Errorf("forward_auth.trusted_proxies[%d]: %v", i, err))
		}
	}
	if t := c.IdentityToken; t != nil && (t.Lifetime < 10*time.Second || t.Lifetime > 24*time.Hour) {
		bad(fmt.Errorf("identity_token.lifetime: %v is outside 10s..24h", t.Lifetime))
	}
	if d := c.Delegation.CcacheDir; d != "" && !slices.Contains(c.SchemesInUse(), "negotiate") {
		bad(errors.New("delegation.ccache_dir: only Kerberos delegates credentials; no site uses negotiate"))
	}
	return all()
}

// ParsePrefix reads an address or a CIDR.
func ParsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// CleanSitePath strips a trailing slash (but keeps "/").
func CleanSitePath(p string) string {
	if len(p) > 1 {
		p = strings.TrimRight(p, "/")
	}
	if p == "" {
		return "/"
	}
	return p
}

// Rule converts the YAML form to an authz rule.
func (r RuleYAML) Rule() (authz.Rule, error) {
	var body *RuleBody
	var allow bool
	switch {
	case r.Allow != nil && r.Deny != nil:
		return authz.Rule{}, errors.New("a rule is either allow or deny, not both")
	case r.Allow != nil:
		body, allow = r.Allow, true
	case r.Deny != nil:
		body = r.Deny
	default:
		return authz.Rule{}, errors.New("a rule needs allow or deny")
	}
	verbs := make([]string, len(body.Verbs))
	for i, v := range body.Verbs {
		verbs[i] = strings.ToUpper(v)
	}
	rule := authz.Rule{Allow: allow, Users: body.Users, Roles: body.Roles, Verbs: verbs}
	return rule, rule.Validate()
}

// Path resolves a configured path against the config's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.Dir, p)
}

// SchemesInUse returns the set of schemes any site enables, sorted.
func (c *Config) SchemesInUse() []string {
	m := map[string]bool{}
	for _, s := range c.Sites {
		for _, a := range s.Auth {
			m[a] = true
		}
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// redactURL is a URL for an error message, without its password.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URL)"
	}
	return u.Redacted()
}
