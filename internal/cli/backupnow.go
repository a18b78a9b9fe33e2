package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	velerov1 "github.com/vmware-tanzu/velero/pkg/apis/velero/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// backupNowFlags are the flags of `safekeep backup now`.
type backupNowFlags struct {
	runFlags
	veleroNamespace string
	noWait          bool
}

// newBackup is the `backup` group; its one verb is `now`.
func newBackup(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Act on BackupSchedules in a cluster",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newBackupNow(opts))
	return cmd
}

func newBackupNow(opts *options) *cobra.Command {
	f := &backupNowFlags{}
	cmd := &cobra.Command{
		Use:   "now SCHEDULE [-n NAMESPACE]",
		Short: "Start a run of a BackupSchedule at once and wait for its outcome",
		Long: `now asks the controller to start a run of the BackupSchedule SCHEDULE at once, by
annotating it with ` + v1alpha1.AnnotationRunNow + `=<time>. The run is like a scheduled
one: a Velero backup from the schedule's template, sealed offsite when Velero
reports it Completed, then retention. It does not change the schedule's
lastScheduleTime. A run already in flight finishes first. A suspended schedule,
or one that is not Ready, is refused.

It waits for the outcome, showing progress on stderr, and exits 0 once the
backup is sealed offsite, 1 when the run fails (the reason is printed). With
--no-wait it returns once the request is made.

The cluster is the one of --kubeconfig, else $KUBECONFIG, else ~/.kube/config
(or the in-cluster configuration).`,
		Example: `  safekeep backup now nightly -n safekeep-system
  safekeep backup now nightly -n safekeep-system --no-wait`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("want one BackupSchedule name, got %d arguments (see '%s --help')", len(args), cmd.CommandPath())
			}
			return checkName("SCHEDULE", "schedule", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runBackupNow(cmd.Context(), opts, f, args[0]) },
	}
	fl := cmd.Flags()
	f.add(cmd, "BackupSchedule", "outcome")
	fl.StringVar(&f.veleroNamespace, "velero-namespace", "velero", "namespace Velero runs in")
	fl.BoolVar(&f.noWait, "no-wait", false, "return once the run is asked for")
	return cmd
}

func runBackupNow(ctx context.Context, opts *options, f *backupNowFlags, name string) error {
	c, ns, err := f.client()
	if err != nil {
		return prefixed("backup now", err)
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	s := &v1alpha1.BackupSchedule{}
	asked, err := askRun(ctx, c, "backup now", "BackupSchedule", key, s, func() error { return runnable(s.Spec.Suspend, s.Status.Conditions) })
	if err != nil {
		return err
	}
	backup := v1alpha1.ManualBackupName(ns, name, asked)
	_, _ = fmt.Fprintf(opts.streams.Err, "asked for a run of BackupSchedule %s: Velero backup %s/%s\n", key, f.veleroNamespace, backup)
	if f.noWait {
		_, err := fmt.Fprintln(opts.streams.Out, backup)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	w := &runWatch{c: c, key: key, backup: backup, veleroNS: f.veleroNamespace, status: newStatusLine(opts.streams.Err)}
	ob, err := w.wait(ctx, f.poll)
	w.status.done()
	if err != nil {
		return prefixed("backup now", err)
	}
	_, err = fmt.Fprintf(opts.streams.Out, "sealed %s/%s: OffsiteBackup %s/%s, %d objects, %s encrypted, seal %s\n",
		f.veleroNamespace, backup, ns, ob.Name, ob.Status.Objects, bytesIEC(ob.Status.CiphertextBytes), ob.Status.SealDigest)
	return err
}

// runWatch follows one run asked for with `backup now`.
type runWatch struct {
	c        client.Client
	key      types.NamespacedName
	backup   string
	veleroNS string
	status   *statusLine
	// failedSince is when Velero's failure was first seen.
	failedSince time.Time
}

// verdictWait is how long a run Velero failed waits for the controller's
// own report of it, which says more.
const verdictWait = 10 * time.Second

// errRunPending: the run's outcome is not known yet.
var errRunPending = errors.New("pending")

// wait looks at the run every poll until it is sealed (returning its
// OffsiteBackup), fails, or ctx ends.
func (w *runWatch) wait(ctx context.Context, poll time.Duration) (*v1alpha1.OffsiteBackup, error) {
	return pollRun(ctx, poll, w.look, func() error {
		return fmt.Errorf("no outcome for Velero backup %s/%s before the timeout; the run goes on: see 'kubectl describe backupschedule -n %s %s'",
			w.veleroNS, w.backup, w.key.Namespace, w.key.Name)
	})
}

// look reads the schedule, the Velero backup and the OffsiteBackup once.
func (w *runWatch) look(ctx context.Context) (*v1alpha1.OffsiteBackup, error) {
	s := &v1alpha1.BackupSchedule{}
	if err := w.c.Get(ctx, w.key, s); err != nil {
		return nil, fmt.Errorf("read BackupSchedule %s: %w", w.key, err)
	}
	ob := &v1alpha1.OffsiteBackup{}
	err := w.c.Get(ctx, types.NamespacedName{Namespace: w.key.Namespace, Name: w.backup}, ob)
	switch {
	case err == nil && meta.IsStatusConditionTrue(ob.Status.Conditions, v1alpha1.ConditionSealed):
		return ob, nil
	case err != nil && !apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read OffsiteBackup %s/%s: %w", w.key.Namespace, w.backup, err)
	}
	b := &velerov1.Backup{}
	err = w.c.Get(ctx, types.NamespacedName{Namespace: w.veleroNS, Name: w.backup}, b)
	if apierrors.IsNotFound(err) {
		return nil, w.notStarted(s)
	}
	if err != nil {
		return nil, fmt.Errorf("read Velero backup %s/%s: %w", w.veleroNS, w.backup, err)
	}
	last := meta.FindStatusCondition(s.Status.Conditions, v1alpha1.ConditionLastRunSucceeded)
	switch b.Status.Phase {
	case velerov1.BackupPhaseFailed, velerov1.BackupPhaseFailedValidation, velerov1.BackupPhasePartiallyFailed:
		if last != nil && strings.Contains(last.Message, w.backup) {
			return nil, fmt.Errorf("the run failed (%s): %s", last.Reason, last.Message)
		}
		// The controller reports it in a moment; say it ourselves if not.
		if w.failedSince.IsZero() {
			w.failedSince = time.Now()
		}
		if time.Since(w.failedSince) < verdictWait {
			w.status.set(fmt.Sprintf("Velero backup %s is %s", w.backup, b.Status.Phase))
			return nil, errRunPending
		}
		return nil, fmt.Errorf("the run failed: Velero backup %s/%s is %s with %d errors and %d warnings; nothing was sealed",
			w.veleroNS, w.backup, b.Status.Phase, b.Status.Errors, b.Status.Warnings)
	case velerov1.BackupPhaseCompleted:
		if last != nil && last.Status == metav1.ConditionFalse && strings.Contains(last.Message, w.backup) {
			if s.Status.Active != w.backup {
				return nil, fmt.Errorf("the run failed (%s): %s", last.Reason, last.Message)
			}
			w.status.set("sealing: " + last.Message)
			return nil, errRunPending
		}
		w.status.set(fmt.Sprintf("Velero backup %s Completed; sealing offsite", w.backup))
	default:
		msg := fmt.Sprintf("Velero backup %s is %s", w.backup, phaseOrNew(b.Status.Phase))
		if p := b.Status.Progress; p != nil && p.TotalItems > 0 {
			msg += fmt.Sprintf(" (%d of %d items)", p.ItemsBackedUp, p.TotalItems)
		}
		w.status.set(msg)
	}
	return nil, errRunPending
}

// notStarted explains a run whose Velero backup does not exist (yet).
func (w *runWatch) notStarted(s *v1alpha1.BackupSchedule) error {
	if _, asked := s.Annotations[v1alpha1.AnnotationRunNow]; asked {
		if s.Status.Active != "" {
			w.status.set(fmt.Sprintf("waiting for the run in flight (%s) to end", s.Status.Active))
		} else {
			w.status.set("waiting for the controller to start the run")
		}
		return errRunPending
	}
	if err := runnable(s.Spec.Suspend, s.Status.Conditions); err != nil {
		return fmt.Errorf("the controller did not start the run: BackupSchedule %s %w", w.key, err)
	}
	if s.Status.Active == w.backup {
		return errRunPending // started; the Velero backup is not visible yet
	}
	return fmt.Errorf("the controller took the request but Velero backup %s/%s does not exist: see 'kubectl describe backupschedule -n %s %s'",
		w.veleroNS, w.backup, w.key.Namespace, w.key.Name)
}

func phaseOrNew(p velerov1.BackupPhase) string {
	if p == "" {
		return string(velerov1.BackupPhaseNew)
	}
	return string(p)
}

// statusLine shows the latest status: redrawn in place on a terminal,
// one line per change otherwise.
type statusLine struct {
	w    io.Writer
	tty  bool
	last string
}

func newStatusLine(w io.Writer) *statusLine { return &statusLine{w: w, tty: isTerminal(w)} }

func (l *statusLine) set(msg string) {
	if msg == l.last {
		return
	}
	l.last = msg
	if l.tty {
		_, _ = fmt.Fprint(l.w, "\r\x1b[K"+msg) // cosmetic: a failed write must not fail the command
		return
	}
	_, _ = fmt.Fprintln(l.w, msg)
}

// done ends a redrawn line.
func (l *statusLine) done() {
	if l.tty && l.last != "" {
		_, _ = fmt.Fprint(l.w, "\r\x1b[K")
	}
}
