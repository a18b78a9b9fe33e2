package v1alpha1

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// DurationPattern is what a Duration must look like: what Go's
// time.ParseDuration reads, without a sign (numbers with units h, m, s, ms,
// us or ns). The schema's rules repeat it; a test keeps them equal.
const DurationPattern = `^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$`

// ErrInvalidDuration: a Duration's text is not a duration.
var ErrInvalidDuration = errors.New("invalid duration")

// Duration is a length of time as metav1.Duration writes it and Go's
// time.ParseDuration reads it: "720h", "90m", "1h30m". There is no day
// unit: write 14 days as 336h.
//
// Unlike metav1.Duration, decoding never fails. An object stored before
// the schema checked durations (spec.template.ttl: banana) must not stop the
// controller from reading every other object: a List decodes all its items
// at once, and one item that fails fails them all. Text that does not parse
// is kept, written back unchanged, and reported by Err, which the controller
// puts on the object's Ready condition.
// +kubebuilder:validation:Type=string
// +kubebuilder:validation:MaxLength=64
// +kubebuilder:validation:XValidation:rule="self.matches('^(0|(([0-9]+([.][0-9]*)?|[.][0-9]+)(ns|us|ms|s|m|h))+)$') && duration(self) >= duration('0s')",message="must be a duration such as 720h, 90m or 1h30m: numbers with units h, m, s, ms, us or ns (there is no day unit: 7 days is 168h)"
type Duration struct {
	time.Duration `json:"-"`

	// Invalid is the text stored when it did not parse as a non-negative
	// duration (Err says so); nil otherwise. It is not a field of the
	// schema: MarshalJSON writes it back in the duration's place.
	Invalid *string `json:"-"`
}

// Err says why the duration is not usable, quoting the text stored; nil
// when it is.
func (d *Duration) Err() error {
	if d == nil || d.Invalid == nil {
		return nil
	}
	return fmt.Errorf("%w %q: write a number with a unit h, m, s, ms, us or ns, such as 720h or 1h30m (there is no day unit)", ErrInvalidDuration, *d.Invalid)
}

// UnmarshalJSON reads a duration string. Anything that is not one is kept
// for Err and MarshalJSON rather than failing the decoding.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		s = string(b) // not a JSON string: the schema forbids it, but keep it
	}
	pd, err := time.ParseDuration(s)
	if err != nil || pd < 0 {
		*d = Duration{Invalid: &s}
		return nil
	}
	*d = Duration{Duration: pd}
	return nil
}

// MarshalJSON writes the duration as metav1.Duration does, or the text
// stored when it did not parse, so that an update loses nothing.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(d.ToUnstructured())
}

// ToUnstructured is what runtime.DefaultUnstructuredConverter writes (the
// same as MarshalJSON).
func (d Duration) ToUnstructured() any {
	if d.Invalid != nil {
		return *d.Invalid
	}
	return d.String()
}
