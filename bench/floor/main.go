// Command floor is the cheapest HTTP server Go can be: net/http with a
// handler that writes "ok\n" for every path, no authentication, no logging.
// bench/compare.sh runs it beside Gatehouse and Apache as the floor that an
// anonymous Gatehouse request is measured against (server CPU per request).
//
// It listens on a loopback address only and writes its pid to -pidfile so
// the load generator can read the server's CPU time.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18191", "listen address (loopback only)")
	pidfile := flag.String("pidfile", "", "write the pid here")
	flag.Parse()
	host, _, err := net.SplitHostPort(*addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		log.Fatalf("floor: refusing non-loopback listen address %q", *addr)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	if *pidfile != "" {
		if err := os.WriteFile(*pidfile, []byte(fmt.Sprintf("%d\n", os.Getpid())), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	srv := &http.Server{Handler: ok, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 60 * time.Second}
	log.Fatal(srv.Serve(ln))
}
