package testbed

import (
	"net"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. The
// caller starts a server on it promptly; another process may take it first, so
// starters retry on a bind failure.
func FreePort(tb TB) int {
	tb.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(tb.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("testbed: free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		tb.Fatalf("testbed: free port: %v", err)
	}
	return port
}
