package target

import (
	"errors"
	"fmt"
	"strings"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// Error is a problem with an OffsiteTarget, classified by the Ready reason it
// maps to. Test for it with errors.As; the cause stays reachable with
// errors.Is/As through Unwrap.
type Error struct {
	// Reason is the OffsiteTarget Ready reason (v1alpha1.Reason*).
	Reason string
	// Message says what is wrong and what to fix, in one line. It names
	// fields, Secrets, keys, endpoints and buckets, never a credential or a
	// key.
	Message string
	// Err is the cause, or nil.
	Err error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Kind says what can fix a failure.
type Kind int

const (
	// KindSpec: only a change to the OffsiteTarget's spec fixes it (a
	// recipient that does not parse, a CA bundle without a certificate, an
	// endpoint or bucket name that cannot work). Retrying is pointless.
	KindSpec Kind = iota + 1
	// KindSecret: a change to a referenced Secret fixes it (missing, or a
	// key in it missing or malformed).
	KindSecret
	// KindRemote: the world outside the cluster must change (the endpoint
	// answers again, the bucket is created, the credentials are accepted,
	// object lock is enabled). Re-checking later may succeed.
	KindRemote
)

// Kind returns what can fix e, from its Reason.
func (e *Error) Kind() Kind {
	switch e.Reason {
	case v1alpha1.ReasonInvalidSpec, v1alpha1.ReasonCABundleInvalid, v1alpha1.ReasonRecipientInvalid:
		return KindSpec
	case v1alpha1.ReasonCredentialsMissing, v1alpha1.ReasonSigningKeyMissing, v1alpha1.ReasonSigningKeyInvalid:
		return KindSecret
	}
	return KindRemote
}

// ReasonOf returns the Ready reason of err when it is (or wraps) an *Error,
// and "" otherwise.
func ReasonOf(err error) string {
	var te *Error
	if errors.As(err, &te) {
		return te.Reason
	}
	return ""
}

// IsTerminal reports whether err is an *Error that only a spec change can
// fix (KindSpec): a controller should not requeue it.
func IsTerminal(err error) bool {
	var te *Error
	return errors.As(err, &te) && te.Kind() == KindSpec
}

// newError builds an *Error with a formatted message.
func newError(reason string, cause error, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...), Err: cause}
}

// maxCauseLen bounds the text of a server's answer quoted in a message.
const maxCauseLen = 200

// scrub folds text to one line of at most maxCauseLen characters and
// replaces each of secrets (credentials known to the caller) by
// **redacted**. Empty and very short secrets are ignored.
func scrub(text string, secrets ...string) string {
	text = strings.Join(strings.Fields(text), " ")
	for _, s := range secrets {
		if len(s) >= 4 {
			text = strings.ReplaceAll(text, s, "**redacted**")
		}
	}
	if len(text) > maxCauseLen {
		text = text[:maxCauseLen] + "..."
	}
	return text
}
