package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestBodyDeadline: a body trickling below the minimum rate is cut off
// with errBodyTimeout; one sent at once is read whole. The bounds below
// are liveness bounds (the server's read timeout is minutes), not timings.
func TestBodyDeadline(t *testing.T) {
	got := make(chan error, 2)
	srv := httptest.NewServer(BodyDeadline(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		got <- err
	}), 200*time.Millisecond, 1000, 0))
	defer srv.Close()

	if resp, err := http.Post(srv.URL, "text/plain", strings.NewReader(strings.Repeat("x", 1<<20))); err != nil {
		t.Fatal(err)
	} else {
		resp.Body.Close()
	}
	if err := <-got; err != nil {
		t.Errorf("a body sent at once: %v", err)
	}

	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-got:
		if !errors.Is(err, errBodyTimeout) {
			t.Errorf("a trickling body: %v, want errBodyTimeout", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a trickling body was never cut off")
	}
}

// TestBodyDeadlineProxy: through the proxy, a trickling body ends the
// upstream's request and the client gets 408.
func TestBodyDeadlineProxy(t *testing.T) {
	released := make(chan error, 1)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, err := io.Copy(io.Discard, r.Body)
		released <- err
	}))
	defer up.Close()
	u, _ := url.Parse(up.URL)
	srv := httptest.NewServer(BodyDeadline(Proxy(u), 200*time.Millisecond, 1000, 0))
	defer srv.Close()
	c, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n")
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}()
	select {
	case err := <-released:
		if err == nil {
			t.Error("the upstream read a whole body")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the upstream's request never ended")
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("status %d, want 408", resp.StatusCode)
	}
}
