package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
)

// drillRunFlags are the flags of `safekeep drill run`.
type drillRunFlags struct {
	runFlags
}

// newDrill is the `drill` group; its one verb is `run`.
func newDrill(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drill",
		Short: "Act on RestoreDrills in a cluster",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newDrillRun(opts))
	return cmd
}

func newDrillRun(opts *options) *cobra.Command {
	f := &drillRunFlags{}
	cmd := &cobra.Command{
		Use:   "run DRILL [-n NAMESPACE]",
		Short: "Start a run of a RestoreDrill at once and wait for its verdict",
		Long: `run asks the controller to start a run of the RestoreDrill DRILL at once, by
annotating it with ` + v1alpha1.AnnotationRunNow + `=<time>. The run is like a scheduled
one: it picks a sealed backup as spec.backup says, verifies and decrypts it,
restores it through Velero into scratch namespaces and checks what came back.
It does not change the drill's lastScheduleTime. A run already in flight
finishes first. A suspended drill, or one that is not Ready, is refused.

It waits for the verdict, showing progress on stderr, prints every check with
its result on stdout, and exits 0 only when every check passed, 1 otherwise.

The cluster is the one of --kubeconfig, else $KUBECONFIG, else ~/.kube/config
(or the in-cluster configuration).`,
		Example: `  safekeep drill run weekly -n safekeep-system
  safekeep drill run weekly -n safekeep-system --timeout 30m`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("want one RestoreDrill name, got %d arguments (see '%s --help')", len(args), cmd.CommandPath())
			}
			return checkName("DRILL", "drill", args[0])
		},
		RunE: func(cmd *cobra.Command, args []string) error { return runDrillRun(cmd.Context(), opts, f, args[0]) },
	}
	f.add(cmd, "RestoreDrill", "verdict")
	return cmd
}

func runDrillRun(ctx context.Context, opts *options, f *drillRunFlags, name string) error {
	c, ns, err := f.client()
	if err != nil {
		return prefixed("drill run", err)
	}
	key := types.NamespacedName{Namespace: ns, Name: name}
	d := &v1alpha1.RestoreDrill{}
	asked, err := askRun(ctx, c, "drill run", "RestoreDrill", key, d, func() error { return runnable(d.Spec.Suspend, d.Status.Conditions) })
	if err != nil {
		return err
	}
	id := v1alpha1.DrillRunID(asked, v1alpha1.TriggerManual)
	_, _ = fmt.Fprintf(opts.streams.Err, "asked for run %s of RestoreDrill %s\n", id, key)
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	w := &drillWatch{c: c, key: key, id: id, status: newStatusLine(opts.streams.Err)}
	run, err := w.wait(ctx, f.poll)
	w.status.done()
	if err != nil {
		return prefixed("drill run", err)
	}
	if err := printDrillRun(opts.streams.Out, key, run); err != nil {
		return err
	}
	if run.Result != v1alpha1.DrillRunPassed {
		return fmt.Errorf("drill run: run %s %s: %s", run.ID, strings.ToLower(string(run.Result)), run.Message)
	}
	return nil
}

// drillWatch follows one run asked for with `drill run`.
type drillWatch struct {
	c      client.Client
	key    types.NamespacedName
	id     string
	status *statusLine
}

// wait looks at the drill every poll until the run has a verdict, the
// controller refuses it, or ctx ends.
func (w *drillWatch) wait(ctx context.Context, poll time.Duration) (*v1alpha1.DrillRun, error) {
	return pollRun(ctx, poll, w.look, func() error {
		return fmt.Errorf("no verdict for run %s before the timeout; the run goes on: see 'kubectl describe restoredrill -n %s %s'",
			w.id, w.key.Namespace, w.key.Name)
	})
}

// look reads the drill once.
func (w *drillWatch) look(ctx context.Context) (*v1alpha1.DrillRun, error) {
	d := &v1alpha1.RestoreDrill{}
	if err := w.c.Get(ctx, w.key, d); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("RestoreDrill %s was deleted", w.key)
		}
		return nil, fmt.Errorf("read RestoreDrill %s: %w", w.key, err)
	}
	for i := range d.Status.History {
		if d.Status.History[i].ID == w.id {
			return &d.Status.History[i], nil
		}
	}
	if l := d.Status.LastRun; l != nil && l.ID == w.id {
		return l, nil
	}
	a := d.Status.Active
	switch {
	case a != nil && a.ID == w.id:
		w.status.set(fmt.Sprintf("run %s is drilling backup %s (for %s)", w.id, a.Backup, time.Since(a.StartTime.Time).Round(time.Second)))
		return nil, errRunPending
	case a != nil:
		w.status.set(fmt.Sprintf("waiting for the run in flight (%s) to end", a.ID))
		return nil, errRunPending
	}
	if _, asked := d.Annotations[v1alpha1.AnnotationRunNow]; asked {
		w.status.set("waiting for the controller to start the run")
		return nil, errRunPending
	}
	if err := runnable(d.Spec.Suspend, d.Status.Conditions); err != nil {
		return nil, fmt.Errorf("the controller did not start the run: RestoreDrill %s %w", w.key, err)
	}
	return nil, fmt.Errorf("the controller took the request but run %s is neither in flight nor recorded: see 'kubectl describe restoredrill -n %s %s'",
		w.id, w.key.Namespace, w.key.Name)
}

// printDrillRun prints a finished run and each of its checks.
func printDrillRun(out interface{ Write([]byte) (int, error) }, key types.NamespacedName, run *v1alpha1.DrillRun) error {
	p := &printer{w: out}
	p.printf("RestoreDrill %s run %s: %s\n", key, run.ID, run.Result)
	if run.Backup != "" {
		p.printf("backup:  %s/%s\n", run.Schedule, run.Backup)
	}
	if run.RTO != nil {
		p.printf("RTO:     %s\n", run.RTO.Duration)
	}
	if len(run.ScratchNamespaces) > 0 {
		p.printf("scratch: %s (cleanup: %s)\n", strings.Join(run.ScratchNamespaces, ", "), run.Cleanup)
	}
	if a := run.AuditEntry; a != nil {
		p.printf("audit:   entry %d %s\n", a.Seq, a.Hash)
	}
	if len(run.Checks) == 0 {
		p.printf("no checks ran: %s\n", run.Message)
		return p.err
	}
	tw := newTable(out)
	tp := &printer{w: tw}
	for _, c := range run.Checks {
		verdict := "PASS"
		if !c.Passed {
			verdict = "FAIL"
		}
		msg := c.Message
		if len(c.FailedObjects) > 0 {
			msg += " (objects: " + strings.Join(c.FailedObjects, ", ") + ")"
		}
		tp.printf("  %s\t%s\t%s\n", verdict, c.Name, msg)
	}
	if p.err != nil {
		return p.err
	}
	return tp.flushTable(tw)
}
