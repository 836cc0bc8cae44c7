package directory

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-ldap/ldap/v3"
	"github.com/go-ldap/ldap/v3/gssapi"
	"github.com/jcmturner/gokrb5/v8/client"
)

// Limits. A lookup happens while an HTTP request waits, so each LDAP step
// is bounded by opTimeout; after a failed connection attempt the next one
// waits retryAfter, so that a directory that is down costs each request
// an immediate error rather than a connect timeout. The caches hold at most
// maxCacheEntries users and as many SIDs (a few hundred bytes each: a few
// MB at most).
const (
	dialTimeout     = 5 * time.Second
	opTimeout       = 10 * time.Second
	retryAfter      = 2 * time.Second
	maxCacheEntries = 10000
	// maxSIDsPerSearch bounds the OR filter of one objectSid search (a PAC
	// may carry hundreds of SIDs; AD accepts long filters, but a search
	// per batch keeps each one small).
	maxSIDsPerSearch = 64
	// DefaultCacheTTL is how long answers are kept when Config.CacheTTL is 0.
	DefaultCacheTTL = 10 * time.Minute
)

// Bind methods.
const (
	BindSimple   = "simple"
	BindKerberos = "kerberos"
)

// Config says where the directory is and how to bind to it.
type Config struct {
	// URL is ldaps://host[:port], or ldap://host[:port] with StartTLS.
	URL      string
	StartTLS bool
	// RootCAs verify the directory's certificate (nil: the system pool).
	RootCAs *x509.CertPool
	// Bind is BindSimple (BindDN and Password) or BindKerberos (GSSAPI
	// with Kerberos, logged in as the service account).
	Bind     string
	BindDN   string
	Password string
	// Kerberos is the service account's Kerberos client (BindKerberos);
	// SPN the directory's service principal (default ldap/<URL host>).
	Kerberos *client.Client
	SPN      string
	// BaseDN where users and groups are searched (default: the RootDSE's
	// defaultNamingContext).
	BaseDN string
	// CacheTTL is how long a user's groups and a SID's name are kept
	// (0: DefaultCacheTTL).
	CacheTTL time.Duration
	Logger   *slog.Logger
}

// Errors. ErrConfig is a configuration the directory cannot be used with
// (bad URL, refused certificate, refused bind); ErrUnavailable wraps every
// failure to get an answer (including ErrConfig ones found at run time).
var (
	ErrConfig      = errors.New("directory: bad configuration")
	ErrUnavailable = errors.New("directory: unavailable")
)

// Directory is a connection to one LDAP directory with caches of answers.
// It is safe for concurrent use.
type Directory struct {
	cfg  Config
	host string
	addr string // URL as given, for messages
	tls  *tls.Config

	mu       sync.Mutex // guards conn, info, nextDial, lastErr
	conn     *ldap.Conn
	info     *serverInfo
	nextDial time.Time
	lastErr  error
	users    *cache[*Membership]
	sidNames *cache[string]
	sidSets  *cache[*Membership] // by the SID list, comma-joined
	flight   flights             // user searches in progress
	now      func() time.Time
}

// serverInfo is what the RootDSE and the domain object say.
type serverInfo struct {
	baseDN    string
	ad        bool   // Active Directory (or Samba AD): tokenGroups, objectSid
	netbios   string // NetBIOS domain name (AD), "" elsewhere
	dnsDomain string // the base DN's DC= components joined by dots
}

// New checks cfg and returns a Directory that connects on first use.
func New(cfg Config) (*Directory, error) {
	u, err := url.Parse(cfg.URL)
	if err != nil || u.Host == "" || (u.Scheme != "ldaps" && u.Scheme != "ldap") || u.Path != "" && u.Path != "/" {
		return nil, fmt.Errorf("%w: url %q: want ldaps://host[:port] or ldap://host[:port]", ErrConfig, cfg.URL)
	}
	if u.Scheme == "ldap" && !cfg.StartTLS {
		return nil, fmt.Errorf("%w: url %q: plain ldap:// needs start_tls (passwords and group lists are not sent in the clear)", ErrConfig, cfg.URL)
	}
	if u.Scheme == "ldaps" && cfg.StartTLS {
		return nil, fmt.Errorf("%w: url %q: start_tls is for ldap://, not ldaps://", ErrConfig, cfg.URL)
	}
	switch cfg.Bind {
	case BindSimple:
		if cfg.BindDN == "" || cfg.Password == "" {
			return nil, fmt.Errorf("%w: bind simple needs a bind DN and a password", ErrConfig)
		}
	case BindKerberos:
		if cfg.Kerberos == nil {
			return nil, fmt.Errorf("%w: bind kerberos needs the service account's Kerberos login", ErrConfig)
		}
	default:
		return nil, fmt.Errorf("%w: bind %q is not simple or kerberos", ErrConfig, cfg.Bind)
	}
	if cfg.CacheTTL <= 0 {
		cfg.CacheTTL = DefaultCacheTTL
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	host := u.Hostname()
	if cfg.SPN == "" {
		cfg.SPN = "ldap/" + host
	}
	d := &Directory{
		cfg: cfg, host: host, addr: cfg.URL,
		tls:      &tls.Config{ServerName: host, RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12},
		users:    newCache[*Membership](maxCacheEntries),
		sidNames: newCache[string](maxCacheEntries),
		sidSets:  newCache[*Membership](maxCacheEntries),
		now:      time.Now,
	}
	return d, nil
}

// URL is the directory's URL, for log lines.
func (d *Directory) URL() string { return d.addr }

// Check connects and binds now, for a start-up that should say at once
// what is wrong. The error says which step failed (connect, TLS, bind).
func (d *Directory) Check() error {
	_, _, err := d.connection()
	return err
}

// Close drops the connection.
func (d *Directory) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	return nil
}

// connection returns the connection, dialling and binding when needed.
func (d *Directory) connection() (*ldap.Conn, *serverInfo, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn != nil && !d.conn.IsClosing() {
		return d.conn, d.info, nil
	}
	if d.conn != nil {
		d.conn.Close()
		d.conn = nil
	}
	if now := d.now(); now.Before(d.nextDial) {
		return nil, nil, d.lastErr
	}
	c, info, err := d.dial()
	if err != nil {
		d.lastErr = fmt.Errorf("%w: %s: %w", ErrUnavailable, d.addr, err)
		d.nextDial = d.now().Add(retryAfter)
		return nil, nil, d.lastErr
	}
	d.conn, d.info = c, info
	return c, info, nil
}

// drop forgets a connection that failed, so the next lookup dials again.
func (d *Directory) drop(c *ldap.Conn) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conn == c {
		d.conn.Close()
		d.conn = nil
	}
}

func (d *Directory) dial() (*ldap.Conn, *serverInfo, error) {
	c, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(&net.Dialer{Timeout: dialTimeout}), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return nil, nil, fmt.Errorf("connect: %w", err)
	}
	c.SetTimeout(opTimeout)
	if d.cfg.StartTLS {
		if err := c.StartTLS(d.tls); err != nil {
			c.Close()
			return nil, nil, fmt.Errorf("StartTLS: %w", err)
		}
	}
	switch d.cfg.Bind {
	case BindSimple:
		err = c.Bind(d.cfg.BindDN, d.cfg.Password)
	case BindKerberos:
		err = c.GSSAPIBind(&gssapi.Client{Client: d.cfg.Kerberos}, d.cfg.SPN, "")
	}
	if err != nil {
		c.Close()
		// the password is never part of the message (go-ldap's errors
		// carry the server's diagnostic, not the request)
		return nil, nil, fmt.Errorf("bind %s as %s: %w", d.cfg.Bind, d.bindName(), err)
	}
	info, err := d.readServerInfo(c)
	if err != nil {
		c.Close()
		return nil, nil, err
	}
	return c, info, nil
}

func (d *Directory) bindName() string {
	if d.cfg.Bind == BindKerberos {
		return d.cfg.Kerberos.Credentials.UserName() + "@" + d.cfg.Kerberos.Credentials.Domain() + " for " + d.cfg.SPN
	}
	return d.cfg.BindDN
}

// Active Directory's capability OID (MS-ADTS §3.1.1.3.4.3.1).
const adCapability = "1.2.840.113556.1.4.800"

// readServerInfo reads the RootDSE (RFC 4512 §5.1; MS-ADTS §3.1.1.3.2)
// and, on AD, the domain's NetBIOS name.
func (d *Directory) readServerInfo(c *ldap.Conn) (*serverInfo, error) {
	res, err := c.Search(ldap.NewSearchRequest("", ldap.ScopeBaseObject, ldap.NeverDerefAliases, 1, int(opTimeout/time.Second), false,
		"(objectClass=*)", []string{"defaultNamingContext", "namingContexts", "configurationNamingContext", "supportedCapabilities"}, nil))
	if err != nil {
		return nil, fmt.Errorf("reading the RootDSE: %w", err)
	}
	if len(res.Entries) != 1 {
		return nil, fmt.Errorf("reading the RootDSE: %d entries", len(res.Entries))
	}
	root := res.Entries[0]
	info := &serverInfo{baseDN: d.cfg.BaseDN}
	for _, c := range root.GetAttributeValues("supportedCapabilities") {
		info.ad = info.ad || c == adCapability
	}
	if info.baseDN == "" {
		info.baseDN = root.GetAttributeValue("defaultNamingContext")
	}
	if info.baseDN == "" {
		if ncs := root.GetAttributeValues("namingContexts"); len(ncs) == 1 {
			info.baseDN = ncs[0]
		}
	}
	if info.baseDN == "" {
		return nil, errors.New("no base DN: the RootDSE has no defaultNamingContext (set directory.base_dn)")
	}
	if dn, err := ldap.ParseDN(info.baseDN); err == nil {
		var parts []string
		for _, rdn := range dn.RDNs {
			for _, a := range rdn.Attributes {
				if strings.EqualFold(a.Type, "dc") {
					parts = append(parts, a.Value)
				}
			}
		}
		info.dnsDomain = strings.Join(parts, ".")
	}
	if !info.ad {
		return info, nil
	}
	// The NetBIOS name is on the domain's crossRef in the Partitions
	// container (MS-ADTS §6.1.1.2.1.1.1).
	if conf := root.GetAttributeValue("configurationNamingContext"); conf != "" {
		res, err = c.Search(ldap.NewSearchRequest("CN=Partitions,"+conf, ldap.ScopeSingleLevel, ldap.NeverDerefAliases, 1, int(opTimeout/time.Second), false,
			"(&(objectClass=crossRef)(nCName="+ldap.EscapeFilter(info.baseDN)+")(nETBIOSName=*))", []string{"nETBIOSName"}, nil))
		if err == nil && len(res.Entries) == 1 {
			info.netbios = strings.ToUpper(res.Entries[0].GetAttributeValue("nETBIOSName"))
		}
	}
	return info, nil
}

// inDomain: domain is the directory's NetBIOS name or DNS domain.
func (i *serverInfo) inDomain(domain string) bool {
	return i.netbios != "" && strings.EqualFold(domain, i.netbios) || i.dnsDomain != "" && strings.EqualFold(domain, i.dnsDomain)
}

// Domain is the directory's NetBIOS domain name ("" when not AD or not
// connected yet).
func (d *Directory) Domain() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.info == nil {
		return ""
	}
	return d.info.netbios
}

// ReadPasswordFile returns the first line of a password file; an empty
// first line is an error.
func ReadPasswordFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: password_file: %w", ErrConfig, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	line = strings.TrimRight(line, "\r")
	if line == "" {
		return "", fmt.Errorf("%w: password_file %s: the first line is empty", ErrConfig, path)
	}
	return line, nil
}

// LoadCAFile reads PEM certificates.
func LoadCAFile(path string) (*x509.CertPool, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: ca_file: %w", ErrConfig, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("%w: ca_file %s: no PEM certificate", ErrConfig, path)
	}
	return pool, nil
}
