package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Policy is the client configuration file, client.yaml: the machine's or
// the user's defaults for `gatehouse get` and jobs, which flags override.
//
//	implicit_allow: [intranet.example.test, "*.corp.example.test"]  # Windows' UseLMCompat / intranet zone
//	spn: {"svc.example.test": HTTP/real-host.example.test}         # CustomTargetNameDictionary
//	proxy: http://proxy.example.test:3128
//	no_proxy: [localhost, .example.test]
type Policy struct {
	ImplicitAllow []string          `yaml:"implicit_allow"`
	SPN           map[string]string `yaml:"spn"`
	Proxy         string            `yaml:"proxy"`
	NoProxy       []string          `yaml:"no_proxy"`
}

// maxPolicyFile bounds the client.yaml read.
const maxPolicyFile = 1 << 20

// PolicyPaths are the places client.yaml is looked for, in order:
// $XDG_CONFIG_HOME/gatehouse/client.yaml (else
// ~/.config/gatehouse/client.yaml), then /etc/gatehouse/client.yaml. The
// first that exists decides alone; they are not merged.
func PolicyPaths() []string {
	var out []string
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		out = append(out, filepath.Join(d, "gatehouse", "client.yaml"))
	} else if home, err := os.UserHomeDir(); err == nil {
		out = append(out, filepath.Join(home, ".config", "gatehouse", "client.yaml"))
	}
	return append(out, "/etc/gatehouse/client.yaml")
}

// LoadPolicy reads the first client.yaml of PolicyPaths. It returns the
// zero Policy and "" when there is none.
func LoadPolicy() (*Policy, string, error) {
	for _, p := range PolicyPaths() {
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, p, fmt.Errorf("client: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(f, maxPolicyFile+1))
		f.Close()
		if err != nil {
			return nil, p, fmt.Errorf("client: %s: %w", p, err)
		}
		if len(b) > maxPolicyFile {
			return nil, p, fmt.Errorf("client: %s is larger than %d bytes", p, maxPolicyFile)
		}
		pol, err := ParsePolicy(b)
		if err != nil {
			return nil, p, fmt.Errorf("client: %s: %w", p, err)
		}
		return pol, p, nil
	}
	return &Policy{}, "", nil
}

// ParsePolicy reads client.yaml; unknown keys are errors.
func ParsePolicy(b []byte) (*Policy, error) {
	var p Policy
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&p); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	for h, spn := range p.SPN {
		if !strings.Contains(spn, "/") {
			return nil, fmt.Errorf("spn: %q for %s is not a service principal (want SERVICE/host)", spn, h)
		}
	}
	if p.SPN != nil {
		m := make(map[string]string, len(p.SPN))
		for h, spn := range p.SPN {
			m[strings.ToLower(h)] = spn
		}
		p.SPN = m
	}
	if p.Proxy != "" {
		if _, err := parseProxy(p.Proxy); err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
	}
	return &p, nil
}
