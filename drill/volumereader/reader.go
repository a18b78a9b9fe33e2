// Package volumereader reads, from inside the cluster, the volumes a
// Level 2 drill had Velero restore: the controller never mounts a
// volume. A Job in the scratch namespace (one per volume.MaxSummaryVolumes
// claims) mounts each restored claim read-only and runs `safekeep-controller volume-digests`, which writes a
// digest list (volume.WriteDigestList) to the pod's log and each volume's
// summary (volume.WriteSummaries) to its termination message; the
// controller reads that log through the API server (pods/log) and hands
// the digests to the drill's volume-files check, which compares them with
// the sealed snapshots. A volume whose list the log lost (the kubelet
// rotates a container's log at 10 MiB by default, about 70,000 files) is
// compared by its summary, which the pod's status keeps.
package volumereader

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/volume"
)

const (
	// JobName is the reader Job's name in the scratch namespace.
	JobName = "safekeep-volume-reader"
	// Container is the name of its one container.
	Container = "reader"
	// Binary is the controller's path in its image (the Dockerfile's).
	Binary = "/usr/local/bin/safekeep-controller"
	// Command is the subcommand the container runs.
	Command = "volume-digests"
	// mountRoot holds the claims, mounted at <mountRoot>/<index>.
	mountRoot = "/volumes"
	// jobNameLabel is the label the Job controller puts on a Job's pods
	// (also set under its legacy name "job-name").
	jobNameLabel = "batch.kubernetes.io/job-name"

	// DefaultTimeout bounds the wait for the Job.
	DefaultTimeout = 10 * time.Minute
	// deleteTimeout bounds the deletion of the Job once read.
	deleteTimeout = 30 * time.Second
)

// ErrNoImage: the controller was given no reader image.
var ErrNoImage = errors.New("no volume reader image: start the controller with --volume-reader-image set to its own image")

// Logs opens a container's log.
type Logs func(ctx context.Context, namespace, pod, container string) (io.ReadCloser, error)

// ClientsetLogs reads logs through the API server's pods/log.
func ClientsetLogs(cs kubernetes.Interface) Logs {
	return func(ctx context.Context, namespace, pod, container string) (io.ReadCloser, error) {
		return cs.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{Container: container}).Stream(ctx)
	}
}

// Reader runs the reader Job. Its Read is a drill.VolumeReader.
type Reader struct {
	// Client reads the restored pods and creates, reads and deletes the
	// Job and its pods, in the scratch namespace only.
	Client client.Client
	// Logs reads the reader's log.
	Logs Logs
	// Image is the controller's image.
	Image string
	// Labels go on the Job and its pod (the run's labels).
	Labels map[string]string
	// Timeout bounds the wait for the Job; 0 means DefaultTimeout.
	Timeout time.Duration
	// Poll is how often the Job is read; 0 means one second.
	Poll time.Duration
}

// Read reads vols, the restored pod volumes of namespace, with one Job
// per volume.MaxSummaryVolumes claims (so that each volume's summary has
// room in its Job's termination message), one after the other, and
// deletes each Job once read. A volume whose pod or claim is missing, or
// whose section of the log is missing or cut short, fails alone.
func (r *Reader) Read(ctx context.Context, namespace string, vols []drill.PodVolume) (map[drill.PodVolume]drill.VolumeRead, error) {
	if r.Image == "" {
		return nil, ErrNoImage
	}
	out := map[drill.PodVolume]drill.VolumeRead{}
	claims, index := []string{}, map[drill.PodVolume]int{}
	for _, v := range vols {
		claim, err := r.claimOf(ctx, v)
		if err != nil {
			out[v] = drill.VolumeRead{Err: err}
			continue
		}
		i := len(claims)
		for j, c := range claims {
			if c == claim {
				i = j
			}
		}
		if i == len(claims) {
			claims = append(claims, claim)
		}
		index[v] = i
	}
	if len(claims) == 0 {
		return out, nil
	}
	var reads []drill.VolumeRead
	for k, chunk := range slices.Collect(slices.Chunk(claims, volume.MaxSummaryVolumes)) {
		got, err := r.run(ctx, namespace, jobName(k), chunk)
		if err != nil {
			return nil, err
		}
		reads = append(reads, got...)
	}
	for v, i := range index {
		out[v] = reads[i]
	}
	return out, nil
}

// jobName names the reader's k-th Job (from 0): JobName, then
// JobName-2, JobName-3...
func jobName(k int) string {
	if k == 0 {
		return JobName
	}
	return JobName + "-" + strconv.Itoa(k+1)
}

// claimOf is the claim v's pod mounts as v.Volume.
func (r *Reader) claimOf(ctx context.Context, v drill.PodVolume) (string, error) {
	if v.Pod == volume.DataMoverDir { // restored from a DataDownload: the PVC
		return v.Volume, nil
	}
	pod := &corev1.Pod{}
	if err := r.Client.Get(ctx, client.ObjectKey{Namespace: v.Namespace, Name: v.Pod}, pod); err != nil {
		return "", fmt.Errorf("restored pod: %w", err)
	}
	for _, pv := range pod.Spec.Volumes {
		if pv.Name == v.Volume && pv.PersistentVolumeClaim != nil {
			return pv.PersistentVolumeClaim.ClaimName, nil
		}
	}
	return "", fmt.Errorf("the restored pod has no claim volume %s", v.Volume)
}

// run creates the Job name reading claims, waits for it, reads its log
// and termination message, and deletes it.
func (r *Reader) run(ctx context.Context, namespace, name string, claims []string) ([]drill.VolumeRead, error) {
	job := r.job(namespace, name, claims)
	if err := r.Client.Create(ctx, job); err != nil {
		return nil, fmt.Errorf("create Job %s/%s: %w", namespace, name, err)
	}
	defer r.delete(ctx, job)
	pod, err := r.wait(ctx, job)
	if err != nil {
		return nil, err
	}
	sums := volume.ReadSummaries(terminationMessage(pod), len(claims))
	lists, lerr := r.readLog(ctx, pod, len(claims))
	if lerr != nil && !slices.ContainsFunc(sums, func(s volume.SummaryRead) bool { return s.Summary != nil }) {
		return nil, lerr
	}
	return merge(lists, sums, lerr), nil
}

// readLog reads the digest list in pod's log.
func (r *Reader) readLog(ctx context.Context, pod *corev1.Pod, n int) ([]volume.DigestListRead, error) {
	logs, err := r.Logs(ctx, pod.Namespace, pod.Name, Container)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	defer func() { _ = logs.Close() }() // read-only
	reads, err := volume.ReadDigestList(logs, n)
	if err != nil {
		return nil, fmt.Errorf("read the log of %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return reads, nil
}

// merge is each volume's read: its per-file list when the log holds it
// whole; else its summary; else why neither could be had. A list whose
// summary is not the one the reader wrote fails: the two disagree.
func merge(lists []volume.DigestListRead, sums []volume.SummaryRead, logErr error) []drill.VolumeRead {
	out := make([]drill.VolumeRead, len(sums))
	for i, s := range sums {
		var l volume.DigestListRead
		switch {
		case lists != nil:
			l = lists[i]
		default:
			l.Err = logErr
		}
		switch {
		case l.Err == nil && s.Summary != nil && maps.Clone(l.Digests).WithoutVeleroDir().Summary() != *s.Summary:
			out[i].Err = errors.New("the digest list in the reader's log is not the one its summary describes")
		case l.Err == nil:
			out[i].Digests = l.Digests
		case s.Summary != nil:
			out[i].Summary = s.Summary
		case s.Err != nil && errors.Is(l.Err, volume.ErrDigestList):
			out[i].Err = s.Err // the reader's own reason, when the log lost it
		default:
			out[i].Err = l.Err
		}
	}
	return out
}

// terminationMessage is the reader container's termination message.
func terminationMessage(pod *corev1.Pod) string {
	for _, c := range pod.Status.ContainerStatuses {
		if c.Name == Container && c.State.Terminated != nil {
			return c.State.Terminated.Message
		}
	}
	return ""
}

// job is the reader Job: one pod, never restarted, with no service
// account token or network need, each claim mounted read-only. It runs
// as root with only CAP_DAC_OVERRIDE, to read files whatever their owner
// (the PodSecurity baseline level allows it; restricted does not).
func (r *Reader) job(namespace, name string, claims []string) *batchv1.Job {
	args := []string{Binary, Command, "--summary=" + corev1.TerminationMessagePathDefault}
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	for i, c := range claims {
		name := "v" + strconv.Itoa(i)
		path := mountRoot + "/" + strconv.Itoa(i)
		args = append(args, path)
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c, ReadOnly: true}}})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path, ReadOnly: true})
	}
	timeout := cmp.Or(r.Timeout, DefaultTimeout)
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace, Labels: r.Labels},
		Spec: batchv1.JobSpec{
			BackoffLimit:          ptr.To[int32](0),
			ActiveDeadlineSeconds: ptr.To(int64(timeout.Seconds())),
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: r.Labels},
				Spec: corev1.PodSpec{
					RestartPolicy:                corev1.RestartPolicyNever,
					AutomountServiceAccountToken: ptr.To(false),
					EnableServiceLinks:           ptr.To(false),
					SecurityContext:              &corev1.PodSecurityContext{SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
					Containers: []corev1.Container{{
						Name: Container, Image: r.Image, Command: args, VolumeMounts: mounts,
						TerminationMessagePath:   corev1.TerminationMessagePathDefault,
						TerminationMessagePolicy: corev1.TerminationMessageFallbackToLogsOnError,
						SecurityContext: &corev1.SecurityContext{
							RunAsUser: ptr.To[int64](0), RunAsNonRoot: ptr.To(false),
							AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
							Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}, Add: []corev1.Capability{"DAC_OVERRIDE"}},
						},
					}},
					Volumes: vols,
				},
			},
		},
	}
}

// wait waits for the Job to end and returns its pod.
func (r *Reader) wait(ctx context.Context, job *batchv1.Job) (*corev1.Pod, error) {
	timeout := cmp.Or(r.Timeout, DefaultTimeout)
	var state batchv1.JobConditionType
	err := wait.PollUntilContextTimeout(ctx, cmp.Or(r.Poll, time.Second), timeout, true, func(ctx context.Context) (bool, error) {
		if err := r.Client.Get(ctx, client.ObjectKeyFromObject(job), job); err != nil {
			return false, err
		}
		for _, c := range job.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) {
				state = c.Type
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return nil, fmt.Errorf("the Job %s/%s did not finish within %s: %w", job.Namespace, job.Name, timeout, err)
	}
	pods, err := r.pods(ctx, job)
	if err != nil {
		return nil, err
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("the Job %s/%s ended (%s) with no pod left to read", job.Namespace, job.Name, state)
	}
	// A failed Job's log still holds what could be read: the volumes the
	// reader could not read have error lines.
	return &pods[0], nil
}

// pods lists the Job's pods.
func (r *Reader) pods(ctx context.Context, job *batchv1.Job) ([]corev1.Pod, error) {
	var list corev1.PodList
	for _, label := range []string{jobNameLabel, "job-name"} {
		if err := r.Client.List(ctx, &list, client.InNamespace(job.Namespace), client.MatchingLabels{label: job.Name}); err != nil {
			return nil, fmt.Errorf("list the pods of Job %s/%s: %w", job.Namespace, job.Name, err)
		}
		if len(list.Items) > 0 {
			break
		}
	}
	return list.Items, nil
}

// delete removes the Job and its pods, even when ctx has ended: they are
// in the scratch namespace, which cleanup deletes anyway, but a reader
// left running would hold the volumes.
func (r *Reader) delete(ctx context.Context, job *batchv1.Job) {
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), deleteTimeout)
	defer cancel()
	_ = client.IgnoreNotFound(r.Client.Delete(dctx, job, client.PropagationPolicy(metav1.DeletePropagationBackground))) // cleanup deletes the namespace
	pods, err := r.pods(dctx, job)
	if err != nil {
		return
	}
	for i := range pods {
		if err := r.Client.Delete(dctx, &pods[i]); err != nil && !apierrors.IsNotFound(err) {
			return // the namespace's deletion takes it
		}
	}
}
