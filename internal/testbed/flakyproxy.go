package testbed

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync/atomic"
)

// FlakyProxy is a loopback reverse proxy in front of an HTTP server (an S3
// endpoint) that answers the first Failures requests itself with HTTP 500
// and an S3 InternalError body, then passes every request through. The Host
// header is kept, so S3 signatures made for the proxy's address verify.
type FlakyProxy struct {
	// Endpoint is the proxy's URL, http://127.0.0.1:PORT.
	Endpoint string

	failures int64
	seen     atomic.Int64
}

// StartFlakyProxy starts a proxy to upstream (http://host:port) that fails
// the first failures requests, and stops it when the test ends.
func StartFlakyProxy(tb TB, upstream string, failures int) *FlakyProxy {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		tb.Fatalf("testbed: flaky proxy upstream %q: %v", upstream, err)
	}
	p := &FlakyProxy{failures: int64(failures)}
	rp := httputil.NewSingleHostReverseProxy(u)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.seen.Add(1) <= p.failures {
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` +
				`<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>`))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	tb.Cleanup(srv.Close)
	p.Endpoint = srv.URL
	return p
}

// Requests returns how many requests the proxy has received.
func (p *FlakyProxy) Requests() int64 { return p.seen.Load() }

// Failing reports whether the proxy still answers 500.
func (p *FlakyProxy) Failing() bool { return p.seen.Load() < p.failures }
