package client

import (
	"crypto/tls"
	"os"
)

type tlsConn = tls.Conn

var osHostname = os.Hostname
