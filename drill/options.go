package drill

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/safekeep-dev/safekeep/seal"
)

// Defaults of Options.
const (
	DefaultVeleroNamespace = "velero"
	DefaultRestoreTimeout  = 30 * time.Minute
	DefaultJobTimeout      = 10 * time.Minute
)

// ErrInvalidOptions: Options are incomplete or inconsistent; the message
// names the field.
var ErrInvalidOptions = errors.New("invalid drill options")

// withDefaults checks the options and fills in defaults.
func (o Options) withDefaults() (Options, error) {
	var missing []string
	for _, f := range []struct {
		name string
		ok   bool
	}{
		{"Offsite", o.Offsite != nil}, {"Identities", len(o.Identities) > 0},
		{"Schedule", o.Schedule != ""}, {"Backup", o.Backup != ""}, {"Client", o.Client != nil},
		{"StagingLocation", o.StagingLocation != ""}, {"Staging", o.Staging != nil}, {"StagedName", o.StagedName != ""},
	} {
		if !f.ok {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return o, fmt.Errorf("%w: %s required", ErrInvalidOptions, strings.Join(missing, ", "))
	}
	if errs := validation.IsDNS1123Label(o.StagedName); len(errs) > 0 {
		return o, fmt.Errorf("%w: StagedName %q: %s", ErrInvalidOptions, o.StagedName, strings.Join(errs, "; "))
	}
	if o.StagedName == o.Backup {
		return o, fmt.Errorf("%w: StagedName must differ from the backup's name", ErrInvalidOptions)
	}
	switch o.Warnings {
	case "":
		o.Warnings = WarningsAllow
	case WarningsAllow, WarningsFail:
	default:
		return o, fmt.Errorf("%w: Warnings %q: want Allow or Fail", ErrInvalidOptions, o.Warnings)
	}
	if o.Job != nil && (o.Job.Image == "" || o.Job.Timeout < 0) {
		return o, fmt.Errorf("%w: Job needs an Image and a timeout of 0 or more", ErrInvalidOptions)
	}
	if o.Isolation != nil {
		iso, err := o.Isolation.withDefaults()
		if err != nil {
			return o, err
		}
		if err := o.podsRun(iso); err != nil {
			return o, err
		}
		o.Isolation, o.CreateNamespaces = &iso, true
	}
	if o.VeleroNamespace == "" {
		o.VeleroNamespace = DefaultVeleroNamespace
	}
	if o.RestoreTimeout <= 0 {
		o.RestoreTimeout = DefaultRestoreTimeout
	}
	if o.Reader == nil {
		o.Reader = o.Client
	}
	if o.Concurrency <= 0 {
		o.Concurrency = seal.DefaultConcurrency
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// podsRun checks that what needs pods to run (the verification Job, a
// volume restore) has Isolated workloads.
func (o Options) podsRun(iso Isolation) error {
	switch {
	case iso.Workloads == WorkloadsIsolated:
		return nil
	case o.Job != nil:
		return fmt.Errorf("%w: the verification Job runs a pod: it needs Isolated workloads", ErrInvalidOptions)
	case o.RestoreVolumes:
		return fmt.Errorf("%w: a volume restore needs the pods to run: it needs Isolated workloads", ErrInvalidOptions)
	}
	return nil
}
