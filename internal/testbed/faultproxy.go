package testbed

import (
	"bytes"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
)

// FaultKind is a way the network or an S3 server fails a request.
type FaultKind string

const (
	// FaultInternalError answers 500 InternalError without asking the server.
	FaultInternalError FaultKind = "500"
	// FaultSlowDown answers 503 SlowDown without asking the server.
	FaultSlowDown FaultKind = "503-slowdown"
	// FaultForbidden answers 403 AccessDenied without asking the server.
	FaultForbidden FaultKind = "403"
	// FaultReset resets the connection (TCP RST) in the middle of the body:
	// of the answer for GET and list requests, of the request for PUT and
	// POST; for HEAD and DELETE after the server answered (the answer is
	// lost, the operation done).
	FaultReset FaultKind = "reset"
	// FaultStall holds the request without an answer until the client gives
	// up (or FaultOptions.Stall passes, then drops the connection).
	FaultStall FaultKind = "stall"
	// FaultTruncate cuts a body half way and closes the connection: the
	// answer's body for GET and list requests (its Content-Length kept),
	// the request's body on its way to the server for PUT.
	FaultTruncate FaultKind = "truncate"
	// FaultBadLength answers GET and list requests with a Content-Length
	// that is not the body's: half of it (the client sees a shorter body
	// end cleanly) or more than it (the body ends early). A PUT reaches
	// the server as a whole request of half the client's Content-Length
	// and body: an object cut short unless the server checks the body.
	FaultBadLength FaultKind = "content-length"
	// FaultStoreShort plays a server that skips its checksum checks: a PUT
	// of a whole object (not a part, a subresource or a copy) is answered 200 while the server is
	// given, through FaultOptions.Direct, only the first half of its
	// payload, with the same object lock. Needs Direct; not in FaultKinds.
	FaultStoreShort FaultKind = "stored-short"
	// FaultStoreFlipped is FaultStoreShort storing the whole payload with
	// one bit flipped: the size right, the bytes not.
	FaultStoreFlipped FaultKind = "stored-flipped"
)

// FaultKinds lists every kind, in a fixed order.
var FaultKinds = []FaultKind{FaultInternalError, FaultSlowDown, FaultForbidden, FaultReset, FaultStall, FaultTruncate, FaultBadLength}

// S3Op classifies a request for FaultRule.
type S3Op string

const (
	OpGet    S3Op = "GET"  // an object's bytes
	OpHead   S3Op = "HEAD" // an object's metadata
	OpList   S3Op = "LIST" // a GET of the bucket: listings, versioning and lock configuration
	OpPut    S3Op = "PUT"  // an object or a part
	OpDelete S3Op = "DELETE"
	OpPost   S3Op = "POST" // multipart create and complete, multi-object delete
)

// FaultRule injects Kind into a share Rate (0 to 1) of the requests of Ops
// (every op when empty) that the kind applies to.
type FaultRule struct {
	Kind FaultKind
	Ops  []S3Op
	Rate float64
	// Under, when set, limits the rule to requests whose path contains it.
	Under string
	// Times, when above 0, is the most requests the rule fails (counted
	// from SetRules): a fault that goes away after a few tries.
	Times int
}

// FaultOptions configure StartFaultProxy.
type FaultOptions struct {
	// Seed makes the choice of the requests that fail repeatable.
	Seed uint64
	// Rules are the faults injected; more can be set with SetRules.
	Rules []FaultRule
	// FailFirst answers the first FailFirst requests 500, whatever the rules.
	FailFirst int
	// Stall is the longest a stalled request is held; 0 means 5s. Clients
	// must time out before it.
	Stall time.Duration
	// Direct writes to the server around the proxy, for FaultStoreShort.
	Direct *minio.Client
}

// FaultProxy is a loopback reverse proxy in front of an S3 server that
// injects faults into requests at seeded rates (see FaultKind), and passes
// the others through. The Host header is kept, so S3 signatures made for the
// proxy's address verify.
type FaultProxy struct {
	// Endpoint is the proxy's URL, http://127.0.0.1:PORT.
	Endpoint string

	upstream  *url.URL
	transport *http.Transport
	stall     time.Duration
	failFirst int64
	seen      atomic.Int64
	direct    *minio.Client

	mu       sync.Mutex
	rng      *rand.Rand
	rules    []FaultRule
	fired    []int // per rule, since SetRules
	injected map[FaultKind]int
	ops      map[S3Op]int64
}

// StartFaultProxy starts a fault-injecting proxy to upstream
// (http://host:port) and stops it when the test ends.
func StartFaultProxy(tb TB, upstream string, opts FaultOptions) *FaultProxy {
	tb.Helper()
	u, err := url.Parse(upstream)
	if err != nil || u.Host == "" {
		tb.Fatalf("testbed: fault proxy upstream %q: %v", upstream, err)
	}
	if opts.Stall <= 0 {
		opts.Stall = 5 * time.Second
	}
	p := &FaultProxy{
		upstream:  u,
		transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true},
		stall:     opts.Stall,
		failFirst: int64(opts.FailFirst),
		direct:    opts.Direct,
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x5eed)), //nolint:gosec // a repeatable test schedule, not a secret
		rules:     opts.Rules,
		fired:     make([]int, len(opts.Rules)),
		injected:  map[FaultKind]int{},
		ops:       map[S3Op]int64{},
	}
	srv := httptest.NewServer(p)
	tb.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		p.transport.CloseIdleConnections()
	})
	p.Endpoint = srv.URL
	return p
}

// StartFlakyProxy starts a proxy to upstream that answers the first
// failures requests 500 InternalError, then passes every request through.
func StartFlakyProxy(tb TB, upstream string, failures int) *FaultProxy {
	tb.Helper()
	return StartFaultProxy(tb, upstream, FaultOptions{FailFirst: failures})
}

// SetRules replaces the rules; with none, every request passes.
func (p *FaultProxy) SetRules(rules ...FaultRule) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules, p.fired = rules, make([]int, len(rules))
}

// Injected returns how many faults of each kind the proxy injected so far.
func (p *FaultProxy) Injected() map[FaultKind]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[FaultKind]int, len(p.injected))
	for k, n := range p.injected {
		out[k] = n
	}
	return out
}

// Ops returns how many requests of each op the proxy has received, and
// starts counting again from zero: a test measures what a step costs.
func (p *FaultProxy) Ops() map[S3Op]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.ops
	p.ops = map[S3Op]int64{}
	return out
}

// Requests returns how many requests the proxy has received.
func (p *FaultProxy) Requests() int64 { return p.seen.Load() }

// Failing reports whether the proxy still answers the first requests 500.
func (p *FaultProxy) Failing() bool { return p.seen.Load() < p.failFirst }

func (p *FaultProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if p.seen.Add(1) <= p.failFirst {
		p.count(FaultInternalError)
		answerError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
		return
	}
	op := opOf(r)
	p.mu.Lock()
	p.ops[op]++
	p.mu.Unlock()
	kind, half := p.pick(op, r.URL.Path, r.URL.RawQuery != "" || r.Header.Get("X-Amz-Copy-Source") != "")
	switch kind {
	case "":
		p.forward(w, r, nil)
	case FaultInternalError:
		answerError(w, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
	case FaultSlowDown:
		answerError(w, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
	case FaultForbidden:
		answerError(w, http.StatusForbidden, "AccessDenied", "Access Denied.")
	case FaultStall:
		p.stallRequest(w, r)
	case FaultReset, FaultTruncate:
		p.cut(w, r, op, kind == FaultReset)
	case FaultStoreShort:
		p.storeWrong(w, r, halve)
	case FaultStoreFlipped:
		p.storeWrong(w, r, flipLast)
	case FaultBadLength:
		if op == OpPut {
			p.shortPut(w, r)
			return
		}
		p.forward(w, r, func(n int64) int64 {
			if half {
				return n / 2
			}
			return n + 1024
		})
	}
}

// pick draws whether this request fails, and how: the first rule that fires.
func (p *FaultProxy) pick(op S3Op, path string, subPut bool) (FaultKind, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, rule := range p.rules {
		if !applies(rule, op, subPut) || !strings.Contains(path, rule.Under) || (rule.Times > 0 && p.fired[i] >= rule.Times) ||
			p.rng.Float64() >= rule.Rate {
			continue
		}
		p.fired[i]++
		p.injected[rule.Kind]++
		return rule.Kind, p.rng.IntN(2) == 0
	}
	return "", false
}

func (p *FaultProxy) count(k FaultKind) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.injected[k]++
}

// applies reports whether rule covers op, and its kind can happen to it.
func applies(rule FaultRule, op S3Op, subPut bool) bool {
	if len(rule.Ops) > 0 && !contains(rule.Ops, op) {
		return false
	}
	switch rule.Kind {
	case FaultTruncate:
		return op == OpGet || op == OpList || op == OpPut
	case FaultBadLength:
		return op == OpGet || op == OpList || op == OpPut
	case FaultStoreShort, FaultStoreFlipped:
		return op == OpPut && !subPut
	}
	return true
}

func contains(ops []S3Op, op S3Op) bool {
	for _, o := range ops {
		if o == op {
			return true
		}
	}
	return false
}

// opOf classifies a path-style S3 request.
func opOf(r *http.Request) S3Op {
	object := strings.Contains(strings.Trim(r.URL.Path, "/"), "/")
	switch r.Method {
	case http.MethodGet:
		if object {
			return OpGet
		}
		return OpList
	case http.MethodHead:
		return OpHead
	case http.MethodPut:
		return OpPut
	case http.MethodDelete:
		return OpDelete
	}
	return OpPost
}

// answerError writes an S3 error answer.
func answerError(w http.ResponseWriter, status int, code, msg string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(`<?xml version="1.0" encoding="UTF-8"?>` + // the client may be gone
		`<Error><Code>` + code + `</Code><Message>` + msg + `</Message></Error>`))
}

// roundTrip sends r on to the server with body (r's when nil) of declared
// length r.ContentLength.
func (p *FaultProxy) roundTrip(r *http.Request, body io.Reader) (*http.Response, error) {
	out := r.Clone(r.Context())
	out.URL.Scheme, out.URL.Host = p.upstream.Scheme, p.upstream.Host
	out.RequestURI = ""
	out.Host = r.Host
	out.Header.Del("Connection")
	if body != nil {
		out.Body = io.NopCloser(body)
	}
	if r.ContentLength == 0 {
		out.Body = nil
	}
	return p.transport.RoundTrip(out)
}

// forward passes r to the server and its answer back; length, when set,
// gives the Content-Length declared to the client from the real one.
func (p *FaultProxy) forward(w http.ResponseWriter, r *http.Request, length func(int64) int64) {
	resp, err := p.roundTrip(r, nil)
	if err != nil {
		answerError(w, http.StatusBadGateway, "BadGateway", "fault proxy: "+err.Error())
		return
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	copyHeader(w.Header(), resp.Header)
	if length != nil && resp.ContentLength > 0 {
		w.Header().Set("Content-Length", itoa(length(resp.ContentLength)))
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = io.Copy(w, resp.Body) // a short Content-Length makes this fail: meant
}

// cut breaks a request in its body: the answer's (GET, list), the
// request's (PUT, POST), or after the answer came (HEAD, DELETE). reset
// sends a TCP RST, else the connection is closed after half the body and,
// for PUT, the server gets half the request body.
func (p *FaultProxy) cut(w http.ResponseWriter, r *http.Request, op S3Op, reset bool) {
	switch op {
	case OpPut, OpPost:
		half := max(r.ContentLength/2, 0)
		if reset {
			_, _ = io.CopyN(io.Discard, r.Body, half) // then drop: the server never sees it
		} else if resp, err := p.roundTrip(r, io.LimitReader(r.Body, half)); err == nil {
			_ = resp.Body.Close() // the server took half a body: not expected, the client sees a drop anyway
		}
		drop(w, reset)
		return
	case OpHead, OpDelete:
		if resp, err := p.roundTrip(r, nil); err == nil {
			_ = resp.Body.Close() // done upstream; the answer is lost
		}
		drop(w, true)
		return
	}
	resp, err := p.roundTrip(r, nil)
	if err != nil {
		drop(w, reset)
		return
	}
	defer func() { _ = resp.Body.Close() }() // read-only
	copyHeader(w.Header(), resp.Header)
	w.WriteHeader(resp.StatusCode)
	if resp.ContentLength > 0 {
		_, _ = io.CopyN(w, resp.Body, resp.ContentLength/2)
	}
	drop(&startedWriter{ResponseWriter: w, started: true}, reset)
}

// shortPut sends the server a PUT whose Content-Length and body are the
// first half of the client's: a whole request to the server, its object
// cut short. The server's answer goes back to the client.
func (p *FaultProxy) shortPut(w http.ResponseWriter, r *http.Request) {
	half := max(r.ContentLength/2, 0)
	body, err := io.ReadAll(io.LimitReader(r.Body, half))
	if err != nil {
		drop(w, true)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body) // the rest never reaches the server
	out := r.Clone(r.Context())
	out.ContentLength = int64(len(body))
	out.Body = io.NopCloser(bytes.NewReader(body))
	p.forward(w, out, nil)
}

// stallRequest holds the request until the client gives up or p.stall
// passes, then drops the connection.
func (p *FaultProxy) stallRequest(w http.ResponseWriter, r *http.Request) {
	t := time.NewTimer(p.stall)
	defer t.Stop()
	select {
	case <-r.Context().Done():
	case <-t.C:
	}
	drop(w, false)
}

// drop closes the client's connection: with a TCP RST when reset, else a
// plain close. What the handler wrote is sent first; when it wrote nothing
// the client gets no answer at all (a flush would send a 200).
func drop(w http.ResponseWriter, reset bool) {
	if sw, ok := w.(*startedWriter); ok && sw.started {
		_ = http.NewResponseController(sw.ResponseWriter).Flush() // the client may be gone
		w = sw.ResponseWriter
	} else if ok {
		w = sw.ResponseWriter
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server drops the connection itself
	}
	if tc, ok := conn.(*net.TCPConn); ok && reset {
		_ = tc.SetLinger(0) // close sends RST
	}
	_ = conn.Close() // closing is the fault
}

// startedWriter marks a response whose status line and some body were
// written, which drop then sends before closing.
type startedWriter struct {
	http.ResponseWriter
	started bool
}

// copyHeader copies an answer's headers but the hop-by-hop ones.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		switch http.CanonicalHeaderKey(k) {
		case "Connection", "Keep-Alive", "Transfer-Encoding", "Trailer", "Upgrade", "Proxy-Connection":
			continue
		}
		dst[k] = append([]string(nil), vs...)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
