package main

import (
	"fmt"
	"io"
	"os"

	// CA roots for an image with no /etc/ssl: used only when the system
	// has none (docs/install.md, "The image").
	_ "golang.org/x/crypto/x509roots/fallback"

	"github.com/safekeep-dev/safekeep/internal/selfcheck"
	"github.com/safekeep-dev/safekeep/internal/version"
)

// stdout is where --version and --selfcheck print.
var stdout io.Writer = os.Stdout

// printVersion answers --version.
func printVersion() int {
	// Best effort: nowhere to report a failed write to stdout.
	_, _ = fmt.Fprintln(stdout, "safekeep-controller version", version.Get())
	return exitOK
}

// runSelfcheck answers --selfcheck FILE: the image's test runs it in an
// empty root filesystem (see package selfcheck).
func runSelfcheck(chainFile string, stderr io.Writer) int {
	chain, err := os.ReadFile(chainFile)
	if err == nil {
		err = selfcheck.Run(stdout, chain)
	}
	if err != nil {
		// Best effort: stderr is the only place to report to.
		_, _ = fmt.Fprintf(stderr, "safekeep-controller: selfcheck: %v\n", err)
		return exitFailure
	}
	return exitOK
}
