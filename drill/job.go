package drill

import (
	"context"
	"fmt"
	"maps"
	"slices"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// JobName is the name of the verification Job in the scratch namespace.
const JobName = "safekeep-verify"

// runJob runs the optional verification Job in the first destination
// namespace and records CheckJob; ran says whether the Job was created.
// The Job's Pod runs as the restricted PodSecurity level asks (and, with
// Isolation, under the namespace's default-deny NetworkPolicy); the Job is
// deleted with the namespace.
func (r *runner) runJob(ctx context.Context, mapping map[string]string) (ran bool, err error) {
	spec := r.opts.Job
	if spec == nil {
		r.pass(CheckJob, "not requested")
		return false, nil
	}
	ns := mapping[slices.Sorted(maps.Keys(mapping))[0]]
	timeout := spec.Timeout
	if timeout == 0 {
		timeout = DefaultJobTimeout
	}
	r.progress.step(Step{Phase: PhaseJob, Message: "running " + JobName + " in " + ns})
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: JobName, Namespace: ns, Labels: r.opts.Labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(timeout.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.opts.Labels},
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					SecurityContext: &corev1.PodSecurityContext{
						RunAsNonRoot:   ptr.To(true),
						SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
					},
					Containers: []corev1.Container{{
						Name:    "verify",
						Image:   spec.Image,
						Command: spec.Command,
						SecurityContext: &corev1.SecurityContext{
							AllowPrivilegeEscalation: ptr.To(false),
							Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
						},
					}},
				},
			},
		},
	}
	if err := r.opts.Client.Create(ctx, job); err != nil {
		if apierrors.IsInvalid(err) || apierrors.IsForbidden(err) {
			r.fail(CheckJob, fmt.Sprintf("Job %s/%s refused: %v", ns, JobName, oneLine(err)), nil)
			return false, nil
		}
		return false, fmt.Errorf("create Job %s/%s: %w", ns, JobName, err)
	}
	var state string
	err = wait.PollUntilContextTimeout(ctx, pollInterval, timeout, true, func(ctx context.Context) (bool, error) {
		if err := r.opts.Reader.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return false, nil // transient: the next poll tries again
		}
		for _, c := range job.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				state = string(c.Type)
				if c.Message != "" {
					state += ": " + c.Message
				}
				return true, nil
			}
		}
		return false, nil
	})
	switch {
	case ctx.Err() != nil:
		return true, ctx.Err()
	case err != nil:
		r.fail(CheckJob, fmt.Sprintf("Job %s/%s did not finish within %s (%d active, %d failed)", ns, JobName, timeout, job.Status.Active, job.Status.Failed), nil)
	case state == string(batchv1.JobComplete):
		r.pass(CheckJob, fmt.Sprintf("Job %s/%s succeeded", ns, JobName))
	default:
		r.fail(CheckJob, fmt.Sprintf("Job %s/%s failed (%s)", ns, JobName, state), nil)
	}
	return true, nil
}
