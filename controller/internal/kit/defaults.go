package kit

import (
	"time"

	"github.com/safekeep-dev/safekeep/location"
	"github.com/safekeep-dev/safekeep/seal"
)

// Defaults of the controller's options, in one place: controller.Options
// applies them, safekeep-controller shows them in its flags, and each
// kind's reconciler falls back to them when built without a value (tests).
const (
	// EventSource names the controller in the Events it writes.
	EventSource = "safekeep-controller"

	DefaultVeleroNamespace = "velero"
	// DefaultVeleroCredentialsSecret serves Velero locations that name no
	// credential, as `velero install` creates it.
	DefaultVeleroCredentialsSecret = location.DefaultCredentialsSecret

	DefaultTargetCheckInterval = 5 * time.Minute
	DefaultTargetRetryInterval = 30 * time.Second
	DefaultTargetProbeTimeout  = 15 * time.Second

	// DefaultScheduleReconciles: BackupSchedule reconciles only talk to the
	// API server (sealing runs apart), so many schedules due at once start
	// quickly.
	DefaultScheduleReconciles = 64
	// DefaultConcurrentSeals bounds the backups sealed (and retention
	// passes run) at once, across schedules.
	DefaultConcurrentSeals = 2
	// DefaultSealConcurrency is how many objects one seal copies at once.
	DefaultSealConcurrency = seal.DefaultConcurrency
	// DefaultBackupDeadline bounds how long a run waits for its Velero
	// Backup to reach a terminal phase (Velero down, a Backup never
	// picked up) before the run is recorded as failed and later runs go
	// ahead. Velero's own item operation timeout is 4 h.
	DefaultBackupDeadline = 6 * time.Hour
	// DefaultConcurrentDrills bounds the drill runs in flight at once.
	DefaultConcurrentDrills = 2
	// DefaultDrillSweepInterval is how often the leftovers of drill runs
	// whose RestoreDrill no longer exists are looked for.
	DefaultDrillSweepInterval = 10 * time.Minute
	// DefaultDrillReconciles is the RestoreDrill reconciles run at once.
	DefaultDrillReconciles = 8
)
