package testbed

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// fakeKubeletInterval is how often the fake kubelet looks at its namespaces.
const fakeKubeletInterval = 200 * time.Millisecond

// Labels the fake kubelet puts on the Pods it creates for Jobs.
const (
	fakeJobLabel = "batch.kubernetes.io/job-name"
	// ReasonNotIsolated is the reason of a Pod the fake kubelet refused to
	// run: no deny-all NetworkPolicy selects it.
	ReasonNotIsolated = "NotIsolated"
)

// PodRun is what the fake kubelet did with one Pod.
type PodRun struct {
	Namespace, Name string
	// Isolated says whether a deny-all NetworkPolicy selected the Pod; it
	// ran (and succeeded) only then. Policy names that policy, or says
	// why none did.
	Isolated bool
	Policy   string
}

// FakeKubelet stands in, in the namespaces carrying its labels, for the
// parts of a cluster that run pods, which the test bed lacks: the quota
// controller (it fills in a new ResourceQuota's status, without which
// admission refuses pods), the Job controller (one Pod per Job that is not
// suspended or finished) and the kubelet. It runs a Pod only under
// isolation: at least one NetworkPolicy of its namespace selects it for
// ingress and egress, and every policy selecting it allows no ingress and
// no egress but to port 53. Such a Pod succeeds at once; any other fails
// with reason ReasonNotIsolated. Containers never actually run.
type FakeKubelet struct {
	c        client.Client
	selector labels.Selector
	mu       sync.Mutex
	runs     map[string]PodRun
}

// StartFakeKubelet starts a fake kubelet for the namespaces labelled with
// every one of nsLabels; it stops with tb's cleanup.
func StartFakeKubelet(tb TB, cp *ControlPlane, nsLabels map[string]string) *FakeKubelet {
	tb.Helper()
	k := &FakeKubelet{c: cp.Client, selector: labels.SelectorFromSet(nsLabels), runs: map[string]PodRun{}}
	tb.Cleanup(tickInBackground(tb, "fake kubelet", k.tick))
	return k
}

// tickInBackground calls tick every fakeKubeletInterval, logging its errors
// as what's, until the returned stop function is called.
func tickInBackground(tb TB, what string, tick func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(tb.Context()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = wait.PollUntilContextCancel(ctx, fakeKubeletInterval, true, func(ctx context.Context) (bool, error) {
			if err := tick(ctx); err != nil && ctx.Err() == nil {
				tb.Logf("testbed: %s: %v", what, err)
			}
			return false, nil
		})
	}()
	return func() { cancel(); <-done }
}

// Runs returns the Pods the fake kubelet ran or refused, sorted.
func (k *FakeKubelet) Runs() []PodRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.SortedFunc(maps.Values(k.runs), func(a, b PodRun) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// tick does one round over the namespaces.
func (k *FakeKubelet) tick(ctx context.Context) error {
	var nss corev1.NamespaceList
	if err := k.c.List(ctx, &nss, client.MatchingLabelsSelector{Selector: k.selector}); err != nil {
		return err
	}
	for _, ns := range nss.Items {
		if ns.DeletionTimestamp != nil {
			continue
		}
		for _, step := range []func(context.Context, string) error{k.countQuotas, k.startJobs, k.runPods, k.finishJobs} {
			if err := step(ctx, ns.Name); err != nil {
				return fmt.Errorf("namespace %s: %w", ns.Name, err)
			}
		}
	}
	return nil
}

// countQuotas gives each new ResourceQuota the status the quota controller
// would: its hard limits, nothing used.
func (k *FakeKubelet) countQuotas(ctx context.Context, ns string) error {
	var quotas corev1.ResourceQuotaList
	if err := k.c.List(ctx, &quotas, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range quotas.Items {
		q := &quotas.Items[i]
		if q.Status.Hard != nil {
			continue
		}
		q.Status.Hard = q.Spec.Hard.DeepCopy()
		q.Status.Used = corev1.ResourceList{}
		for name := range q.Spec.Hard {
			q.Status.Used[name] = resource.MustParse("0")
		}
		if err := k.c.Status().Update(ctx, q); err != nil {
			return fmt.Errorf("count quota %s: %w", q.Name, err)
		}
	}
	return nil
}

// startJobs creates the Pod of each Job that should run and has none.
func (k *FakeKubelet) startJobs(ctx context.Context, ns string) error {
	return startJobs(ctx, k.c, ns, "")
}

// startJobs creates the Pod of each Job of namespace ns that should run
// and has none, as the Job controller does, bound to node when not empty.
func startJobs(ctx context.Context, c client.Client, ns, node string) error {
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if ptr.Deref(job.Spec.Suspend, false) || finished(job) || job.Status.StartTime != nil {
			continue
		}
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{
				Name: job.Name + "-fake", Namespace: ns,
				Labels:          maps.Clone(job.Spec.Template.Labels),
				OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, batchv1.SchemeGroupVersion.WithKind("Job"))},
			},
			Spec: *job.Spec.Template.Spec.DeepCopy(),
		}
		if pod.Labels == nil {
			pod.Labels = map[string]string{}
		}
		pod.Labels[fakeJobLabel] = job.Name
		pod.Labels["job-name"] = job.Name // the legacy label, which Velero reads
		pod.Spec.NodeName = node
		if err := c.Create(ctx, pod); err != nil {
			return fmt.Errorf("create the pod of Job %s: %w", job.Name, err)
		}
		job.Status.StartTime = &metav1.Time{Time: time.Now()}
		job.Status.Active = 1
		if err := c.Status().Update(ctx, job); err != nil {
			return fmt.Errorf("start Job %s: %w", job.Name, err)
		}
	}
	return nil
}

// runPods runs each pending Pod if it is isolated, and fails it otherwise.
func (k *FakeKubelet) runPods(ctx context.Context, ns string) error {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.InNamespace(ns)); err != nil {
		return err
	}
	var policies networkingv1.NetworkPolicyList
	if err := k.c.List(ctx, &policies, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range pods.Items {
		pod := &pods.Items[i]
		if pod.Status.Phase != "" && pod.Status.Phase != corev1.PodPending {
			continue
		}
		isolated, why := Isolated(policies.Items, pod.Labels)
		k.mu.Lock()
		k.runs[ns+"/"+pod.Name] = PodRun{Namespace: ns, Name: pod.Name, Isolated: isolated, Policy: why}
		k.mu.Unlock()
		now := metav1.Now()
		pod.Status = corev1.PodStatus{Phase: corev1.PodSucceeded, StartTime: &now}
		for _, c := range pod.Spec.Containers {
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}},
			})
		}
		if !isolated {
			pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: ReasonNotIsolated, Message: why, StartTime: &now}
		}
		if err := k.c.Status().Update(ctx, pod); err != nil {
			return fmt.Errorf("run pod %s: %w", pod.Name, err)
		}
	}
	return nil
}

// finishJobs completes or fails each started Job whose Pod ended, as the
// Job controller does (the terminal condition after its "target" one).
func (k *FakeKubelet) finishJobs(ctx context.Context, ns string) error {
	return finishJobs(ctx, k.c, ns)
}

// finishJobs completes or fails each started Job of namespace ns whose Pod
// ended.
func finishJobs(ctx context.Context, c client.Client, ns string) error {
	var jobs batchv1.JobList
	if err := c.List(ctx, &jobs, client.InNamespace(ns)); err != nil {
		return err
	}
	for i := range jobs.Items {
		job := &jobs.Items[i]
		if job.Status.StartTime == nil || finished(job) {
			continue
		}
		pod := &corev1.Pod{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: job.Name + "-fake"}, pod); err != nil {
			return fmt.Errorf("read the pod of Job %s: %w", job.Name, err)
		}
		if !endJob(job, pod) {
			continue
		}
		if err := c.Status().Update(ctx, job); err != nil {
			return fmt.Errorf("finish Job %s: %w", job.Name, err)
		}
	}
	return nil
}

// endJob records in job's status the end of its pod, as the Job controller
// does (the terminal condition after its "target" one), and reports
// whether the pod had ended.
func endJob(job *batchv1.Job, pod *corev1.Pod) bool {
	now := metav1.Now()
	cond := func(t batchv1.JobConditionType, reason, msg string) batchv1.JobCondition {
		return batchv1.JobCondition{Type: t, Status: corev1.ConditionTrue, Reason: reason, Message: msg, LastProbeTime: now, LastTransitionTime: now}
	}
	switch pod.Status.Phase {
	case corev1.PodSucceeded:
		job.Status.Active, job.Status.Succeeded = 0, 1
		job.Status.CompletionTime = &now
		job.Status.Conditions = append(job.Status.Conditions,
			cond(batchv1.JobSuccessCriteriaMet, batchv1.JobReasonCompletionsReached, ""),
			cond(batchv1.JobComplete, batchv1.JobReasonCompletionsReached, ""))
	case corev1.PodFailed:
		job.Status.Active, job.Status.Failed = 0, 1
		job.Status.Conditions = append(job.Status.Conditions,
			cond(batchv1.JobFailureTarget, batchv1.JobReasonBackoffLimitExceeded, pod.Status.Message),
			cond(batchv1.JobFailed, batchv1.JobReasonBackoffLimitExceeded, pod.Status.Message))
	default:
		return false
	}
	return true
}

// finished reports whether job has a terminal condition.
func finished(job *batchv1.Job) bool {
	for _, c := range job.Status.Conditions {
		if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
			return true
		}
	}
	return false
}

// Isolated reports whether the NetworkPolicies of a namespace deny all
// traffic of a pod with podLabels but DNS: at least one selects it for
// both ingress and egress (so nothing is allowed that a policy does not
// allow), and every one that selects it allows no ingress and egress only
// to port 53 (policies add up). The string names the isolating policy, or
// says what is wrong.
func Isolated(policies []networkingv1.NetworkPolicy, podLabels map[string]string) (bool, string) {
	isolating := ""
	for _, p := range policies {
		sel, err := metav1.LabelSelectorAsSelector(&p.Spec.PodSelector)
		if err != nil || !sel.Matches(labels.Set(podLabels)) {
			continue
		}
		if len(p.Spec.Ingress) > 0 {
			return false, "NetworkPolicy " + p.Name + " allows ingress"
		}
		for _, e := range p.Spec.Egress {
			if len(e.Ports) == 0 || slices.ContainsFunc(e.Ports, func(pp networkingv1.NetworkPolicyPort) bool {
				return pp.Port == nil || pp.Port.IntValue() != 53 || pp.EndPort != nil
			}) {
				return false, "NetworkPolicy " + p.Name + " allows egress beyond DNS"
			}
		}
		if slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) && slices.Contains(p.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) && isolating == "" {
			isolating = p.Name
		}
	}
	if isolating == "" {
		return false, "no NetworkPolicy isolates it for ingress and egress"
	}
	return true, isolating
}
