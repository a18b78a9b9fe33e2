package testbed

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Volume plugin folders of the kubelet's pods folder
// (<pods>/<podUID>/volumes/<plugin>/<volume dir>), which Velero's
// node-agent globs for.
const (
	localVolumePlugin = "kubernetes.io~local-volume"
	csiVolumePlugin   = "kubernetes.io~csi"
	emptyDirPlugin    = "kubernetes.io~empty-dir"
	// restoreWait is the init container Velero adds to a restored pod with
	// file-system restores (restorehelper.WaitInitContainer); it ends once
	// every volume it mounts under /restores holds .velero/<restore UID>.
	restoreWait = "restore-wait"
)

// NodeRun is a container the Node's kubelet ran with bin/velero.
type NodeRun struct {
	Namespace, Name string
	UID             types.UID
	// Args are velero's arguments (the container's command after /velero,
	// then its args), volume paths as given to the process.
	Args []string
	// ExitCode and Message (the termination message) are its result.
	ExitCode int
	Message  string
	// LogPath holds its output.
	LogPath string
}

// nodeKubelet is the kubelet, scheduler and local-volume provisioner of a
// Node. It polls (every fakeKubeletInterval) the pods bound to the node:
//   - a pod whose only container runs `/velero pod-volume ...` or
//     `/velero repo-maintenance ...` (what Velero's node-agent and server
//     start) runs for real: bin/velero with the container's arguments and
//     environment (fieldRefs resolved), hostPath mounts given as the host
//     folders they name, its own HOME, TMPDIR and kubeconfig, in a mount
//     namespace whose /dev holds a termination-log file of its own; the pod
//     is Running while it runs, then Succeeded or Failed with the exit code
//     and the termination message in its container status;
//   - any other pod is marked Running with its volumes "mounted" (a PVC
//     bound to a spec.local PV as a symlink to the PV's folder, which the
//     hosting pods' hostPath resolves, as a bind mount would; an emptyDir
//     as a folder); a restored pod waits in Pending with its restore-wait
//     init container running until the file-system restore's done files
//     are in its volumes, then the done files go, as Velero's helper does;
//   - a pod being deleted is ended (its process killed) and removed.
//
// In the Velero namespace it also runs Jobs (repository maintenance) as the
// Job controller does, one pod each on the node; in namespaces labelled
// NodeLabel=<node> it binds unscheduled pods to the node and gives Pending
// PVCs with no volume a new local PV.
type nodeKubelet struct {
	n  *Node
	tb TB
	c  client.Client

	mu sync.Mutex
	// schedule selects the namespaces whose unscheduled pods and unbound
	// PVCs the node takes: NodeLabel=<node>, and what ScheduleIn adds.
	schedule []labels.Selector
	// csi: the Node is a CSI node too (EnableCSI): it snapshots.
	csi  bool
	runs []NodeRun
	// images maps an image to the binary run for it (Node.RunImage).
	images map[string]string
	// logMaxSize is containerLogMaxSize (Node.SetContainerLogMaxSize).
	logMaxSize int64
	// procs are the processes started, by pod UID; a finished one stays
	// until its pod is gone, so it is never started twice.
	procs map[types.UID]*podProcess
}

// startNodeKubelet starts n's kubelet; it stops with tb's cleanup, after
// killing what it runs.
func startNodeKubelet(tb TB, n *Node) *nodeKubelet {
	k := &nodeKubelet{
		n: n, tb: tb, c: n.cp.Client, procs: map[types.UID]*podProcess{},
		schedule: []labels.Selector{labels.SelectorFromSet(labels.Set{NodeLabel: n.Name})},
	}
	stop := tickInBackground(tb, "kubelet of "+n.Name, k.tick)
	tb.Cleanup(func() {
		stop()
		k.mu.Lock()
		defer k.mu.Unlock()
		for _, p := range k.procs {
			p.kill()
		}
	})
	return k
}

// Runs returns what the kubelet ran and saw end, sorted by namespace and name.
func (k *nodeKubelet) Runs() []NodeRun {
	k.mu.Lock()
	defer k.mu.Unlock()
	return slices.SortedFunc(slices.Values(slices.Clone(k.runs)), func(a, b NodeRun) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
}

// tick does one round: Jobs, provisioning, scheduling, then the pods.
func (k *nodeKubelet) tick(ctx context.Context) error {
	var errs []error
	if err := k.startJobs(ctx); err != nil {
		errs = append(errs, err)
	}
	k.mu.Lock()
	csi := k.csi
	k.mu.Unlock()
	if csi {
		if err := k.snapshot(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := k.releaseVolumes(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := k.provisionAndSchedule(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := k.syncPods(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := k.finishJobs(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// syncPods brings each pod bound to the node one step on.
func (k *nodeKubelet) syncPods(ctx context.Context) error {
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", k.n.Name)}); err != nil {
		return fmt.Errorf("list the pods of %s: %w", k.n.Name, err)
	}
	live := map[types.UID]bool{}
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		live[pod.UID] = true
		if err := k.syncPod(ctx, pod); err != nil {
			errs = append(errs, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err))
		}
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for uid, p := range k.procs {
		if !live[uid] {
			p.kill()
			delete(k.procs, uid)
		}
	}
	return errors.Join(errs...)
}

func (k *nodeKubelet) syncPod(ctx context.Context, pod *corev1.Pod) error {
	if pod.DeletionTimestamp != nil {
		k.mu.Lock()
		if p := k.procs[pod.UID]; p != nil {
			p.kill()
		}
		k.mu.Unlock()
		// What a kubelet does once the containers are gone.
		err := k.c.Delete(ctx, pod, client.GracePeriodSeconds(0), client.Preconditions{UID: &pod.UID})
		return client.IgnoreNotFound(err)
	}
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return nil
	}
	vols, err := k.mount(ctx, pod)
	if err != nil || vols == nil {
		return err // nil, nil: a volume is not ready yet
	}
	if argv, ok := veleroArgs(pod); ok {
		return k.runContainer(ctx, pod, func() (string, []string, []string, error) {
			args, env, err := k.n.containerCommand(pod, argv, vols)
			return k.n.bin, args, env, err
		})
	}
	if bin, ok := k.imageBinary(pod); ok {
		return k.runContainer(ctx, pod, func() (string, []string, []string, error) {
			args, err := imageArgs(pod, vols)
			return bin, args, nil, err
		})
	}
	return k.runWorkload(ctx, pod, vols)
}

// veleroArgs returns velero's arguments when pod is one the kubelet runs
// for real: one container, running /velero pod-volume, data-mover or
// repo-maintenance.
func veleroArgs(pod *corev1.Pod) ([]string, bool) {
	if len(pod.Spec.Containers) != 1 {
		return nil, false
	}
	c := pod.Spec.Containers[0]
	argv := append(slices.Clone(c.Command), c.Args...)
	if len(argv) < 2 || argv[0] != "/velero" || !slices.Contains([]string{"pod-volume", "data-mover", "repo-maintenance"}, argv[1]) {
		return nil, false
	}
	return argv[1:], true
}

// runWorkload marks a workload pod Running, or Pending with its
// restore-wait init container running until its volumes are restored.
func (k *nodeKubelet) runWorkload(ctx context.Context, pod *corev1.Pod, vols map[string]string) error {
	waiting, err := restoreWaiting(pod, vols)
	if err != nil {
		return err
	}
	phase := corev1.PodRunning
	if waiting {
		phase = corev1.PodPending
	}
	if pod.Status.Phase == phase && len(pod.Status.ContainerStatuses)+len(pod.Status.InitContainerStatuses) > 0 {
		return nil
	}
	now := metav1.Now()
	st := corev1.PodStatus{Phase: phase, StartTime: &now, HostIP: "127.0.0.1", PodIP: "127.0.0.1"}
	for _, c := range pod.Spec.InitContainers {
		cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image}
		if waiting && c.Name == restoreWait {
			cs.State.Running = &corev1.ContainerStateRunning{StartedAt: now}
		} else {
			cs.State.Terminated = &corev1.ContainerStateTerminated{ExitCode: 0, Reason: "Completed", StartedAt: now, FinishedAt: now}
		}
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
	}
	ready := corev1.ConditionFalse
	if !waiting {
		ready = corev1.ConditionTrue
		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			})
		}
	} else {
		for _, c := range pod.Spec.Containers {
			st.ContainerStatuses = append(st.ContainerStatuses, corev1.ContainerStatus{
				Name: c.Name, Image: c.Image,
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "PodInitializing"}},
			})
		}
	}
	st.Conditions = []corev1.PodCondition{
		{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: now},
		{Type: corev1.PodInitialized, Status: ready, LastTransitionTime: now},
		{Type: corev1.ContainersReady, Status: ready, LastTransitionTime: now},
		{Type: corev1.PodReady, Status: ready, LastTransitionTime: now},
	}
	pod.Status = st
	return k.c.Status().Update(ctx, pod)
}

// restoreWaiting reports whether pod's restore-wait init container would
// still wait: some volume it mounts under /restores lacks
// .velero/<restore UID> (its first argument). When none does, it removes
// the .velero folders, as Velero's restore helper does before it exits.
func restoreWaiting(pod *corev1.Pod, vols map[string]string) (bool, error) {
	i := slices.IndexFunc(pod.Spec.InitContainers, func(c corev1.Container) bool { return c.Name == restoreWait })
	if i < 0 {
		return false, nil
	}
	if pod.Status.Phase == corev1.PodRunning {
		return false, nil // it ended before
	}
	c := pod.Spec.InitContainers[i]
	if len(c.Args) == 0 {
		return false, errors.New("restore-wait has no restore UID argument")
	}
	var dirs []string
	for _, m := range c.VolumeMounts {
		if !strings.HasPrefix(m.MountPath, "/restores/") {
			continue
		}
		dir, ok := vols[m.Name]
		if !ok {
			return false, fmt.Errorf("restore-wait mounts volume %s, which the pod lacks", m.Name)
		}
		if _, err := os.Stat(filepath.Join(dir, ".velero", c.Args[0])); err != nil {
			return true, nil
		}
		dirs = append(dirs, dir)
	}
	for _, dir := range dirs {
		if err := os.RemoveAll(filepath.Join(dir, ".velero")); err != nil {
			return false, err
		}
	}
	return false, nil
}

// runContainer starts the pod's process once (the binary, arguments and
// environment command gives), marks the pod Running, and records its end
// in the pod's status.
func (k *nodeKubelet) runContainer(ctx context.Context, pod *corev1.Pod, command func() (string, []string, []string, error)) error {
	k.mu.Lock()
	p := k.procs[pod.UID]
	k.mu.Unlock()
	if p == nil {
		bin, args, env, err := command()
		if err != nil {
			return k.failPod(ctx, pod, err)
		}
		p, err = k.n.startPodProcess(pod, bin, args, env)
		if err != nil {
			return k.failPod(ctx, pod, err)
		}
		k.mu.Lock()
		k.procs[pod.UID] = p
		k.mu.Unlock()
	}
	select {
	case <-p.done:
	default:
		if pod.Status.Phase == corev1.PodRunning {
			return nil
		}
		now := metav1.Now()
		c := pod.Spec.Containers[0]
		pod.Status = corev1.PodStatus{
			Phase: corev1.PodRunning, StartTime: &now, HostIP: "127.0.0.1", PodIP: "127.0.0.1",
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name: c.Name, Image: c.Image, Ready: true,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
			}},
		}
		return k.c.Status().Update(ctx, pod)
	}
	code, msg := p.result()
	now := metav1.Now()
	started := now
	if pod.Status.StartTime != nil {
		started = *pod.Status.StartTime
	}
	phase, reason := corev1.PodSucceeded, "Completed"
	if code != 0 {
		phase, reason = corev1.PodFailed, "Error"
	}
	c := pod.Spec.Containers[0]
	pod.Status.Phase = phase
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Reason: "PodCompleted", LastTransitionTime: now}}
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: c.Name, Image: c.Image,
		State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
			ExitCode: int32(code), Reason: reason, Message: msg, StartedAt: started, FinishedAt: now, //nolint:gosec // an exit code
		}},
	}}
	if err := k.c.Status().Update(ctx, pod); err != nil {
		return err
	}
	k.mu.Lock()
	k.runs = append(k.runs, NodeRun{Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, Args: p.args, ExitCode: code, Message: msg, LogPath: p.log})
	k.mu.Unlock()
	return nil
}

// failPod ends a pod the kubelet cannot run, saying why.
func (k *nodeKubelet) failPod(ctx context.Context, pod *corev1.Pod, why error) error {
	now := metav1.Now()
	pod.Status = corev1.PodStatus{Phase: corev1.PodFailed, Reason: "TestBedCannotRun", Message: why.Error(), StartTime: &now}
	for _, c := range pod.Spec.Containers {
		pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, Reason: "Error", Message: why.Error(), StartedAt: now, FinishedAt: now}},
		})
	}
	k.tb.Logf("testbed: kubelet of %s cannot run pod %s/%s: %v", k.n.Name, pod.Namespace, pod.Name, why)
	return k.c.Status().Update(ctx, pod)
}

// containerCommand returns velero's arguments, each mount's path given as
// the host folder of its volume (vols, from mount: a hostPath's folder, a
// PVC's volume; symlinks resolved, as a bind mount does), and the
// container's environment (literal values and the pod's own fields).
func (n *Node) containerCommand(pod *corev1.Pod, argv []string, vols map[string]string) ([]string, []string, error) {
	c := pod.Spec.Containers[0]
	hostPaths := map[string]string{}
	for _, v := range pod.Spec.Volumes {
		if v.HostPath != nil || v.PersistentVolumeClaim != nil {
			hostPaths[v.Name] = vols[v.Name]
		}
	}
	args := slices.Clone(argv)
	for _, m := range c.VolumeMounts {
		hp, ok := hostPaths[m.Name]
		if !ok || hp == "" {
			continue
		}
		real, err := filepath.EvalSymlinks(hp)
		if err != nil {
			return nil, nil, fmt.Errorf("hostPath volume %s: %w", m.Name, err)
		}
		for i, a := range args {
			if a == m.MountPath {
				args[i] = real
			} else if flag, ok := strings.CutSuffix(a, "="+m.MountPath); ok {
				args[i] = flag + "=" + real
			}
		}
	}
	if len(c.EnvFrom) > 0 {
		return nil, nil, errors.New("envFrom is not supported by the test bed's kubelet")
	}
	fieldValues := map[string]string{
		"metadata.name": pod.Name, "metadata.namespace": pod.Namespace,
		"metadata.uid": string(pod.UID), "spec.nodeName": pod.Spec.NodeName,
	}
	var env []string
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env = append(env, e.Name+"="+e.Value)
		case e.ValueFrom.FieldRef != nil:
			v, ok := fieldValues[e.ValueFrom.FieldRef.FieldPath]
			if !ok {
				return nil, nil, fmt.Errorf("env %s: fieldRef %s is not supported by the test bed's kubelet", e.Name, e.ValueFrom.FieldRef.FieldPath)
			}
			env = append(env, e.Name+"="+v)
		default:
			return nil, nil, fmt.Errorf("env %s: only values and fieldRefs are supported by the test bed's kubelet", e.Name)
		}
	}
	return args, env, nil
}
