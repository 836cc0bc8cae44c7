package server

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// AccessLog wraps h (a Gate's handler) so that every request is logged
// once it is answered, at Info with msg=access: client address, user and
// scheme (empty when the request was not authenticated), method, path,
// status, bytes of body written and duration. It goes through log, so it
// is text or JSON with the rest of the log.
func AccessLog(h http.Handler, log *slog.Logger) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &accessRecord{}
		rw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(rw, r.WithContext(context.WithValue(r.Context(), accessKey{}, rec)))
		if rw.status == 0 {
			rw.status = http.StatusOK
		}
		client := r.RemoteAddr
		if host, _, err := net.SplitHostPort(client); err == nil {
			client = host
		}
		log.LogAttrs(r.Context(), slog.LevelInfo, "access",
			slog.String("client", client),
			slog.String("user", rec.user),
			slog.String("scheme", rec.scheme),
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", rw.status),
			slog.Int64("bytes", rw.bytes),
			slog.Duration("duration", time.Since(start)))
	})
}

type accessKey struct{}

// accessRecord is what the Gate tells AccessLog about a request.
type accessRecord struct {
	user, scheme string
}

// noteIdentity records the request's identity for AccessLog, if it runs.
func noteIdentity(r *http.Request, id *Identity) {
	if rec, ok := r.Context().Value(accessKey{}).(*accessRecord); ok {
		rec.user, rec.scheme = id.User, id.Scheme
	}
}

// statusWriter counts what a handler writes. Unwrap lets
// http.ResponseController reach the connection's Flush and Hijack.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 && code >= 200 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.bytes += int64(n)
	return n, err
}

func (s *statusWriter) Flush() {
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }
