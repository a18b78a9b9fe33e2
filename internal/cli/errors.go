package cli

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the command ran and failed
	exitUsage   = 2 // the command line is wrong
)

// usageError is a wrong command line: a missing or malformed flag, an
// unknown command or argument. It exits with code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// usagef builds a usageError.
func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// exitCode maps an error to the process exit code.
func exitCode(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	default:
		return exitFailure
	}
}

// secretPattern matches age secret keys in any text about to be printed.
var secretPattern = regexp.MustCompile(`AGE-SECRET-KEY-(PQ-)?1[0-9A-Za-z]+`)

// secretEnv lists variables whose values must never reach the output.
var secretEnv = []string{"AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"}

// oneLine renders err as the single line the CLI prints: newlines folded, age
// secret keys and the values of AWS secret variables replaced by
// **redacted**. The packages underneath are written not to put secrets in
// errors; this is the last line of defence, not the first.
func oneLine(err error) string {
	s := err.Error()
	s = strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
	s = secretPattern.ReplaceAllString(s, "**redacted**")
	for _, k := range secretEnv {
		if v := os.Getenv(k); len(v) >= 8 {
			s = strings.ReplaceAll(s, v, "**redacted**")
		}
	}
	return s
}

// wrapped is an error with its own text that still unwraps to err.
type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.err }
