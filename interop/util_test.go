package interop

import (
	"encoding/json"
	"regexp"
)

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }

var regexpNegotiateToken = regexp.MustCompile(`(?i)www-authenticate: negotiate [A-Za-z0-9+/=]{20,}`)
