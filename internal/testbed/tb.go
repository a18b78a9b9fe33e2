package testbed

import "context"

// TB is the part of testing.TB the test bed uses. *testing.T and *testing.B
// satisfy it, and so does the demo's runner, which starts the same real
// parts outside `go test`.
type TB interface {
	Helper()
	Cleanup(func())
	Context() context.Context
	Errorf(format string, args ...any)
	Failed() bool
	Fatalf(format string, args ...any)
	Logf(format string, args ...any)
	TempDir() string
}
