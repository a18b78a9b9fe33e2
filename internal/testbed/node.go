package testbed

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
)

const (
	// NodeName is the name of the Node StartNode registers.
	NodeName = "node-1"
	// NodeLabel on a namespace asks the Node's scheduler to bind its
	// unscheduled Pods to the Node (with this label's value as the Node's
	// name) and its provisioner to give its Pending PVCs local volumes: what
	// a Velero Restore into the namespace needs.
	NodeLabel = "testbed.safekeep.dev/node"

	// nodeAgentStartTimeout bounds the wait for node-agent's controllers.
	nodeAgentStartTimeout = 60 * time.Second
	// hostPodsMount is where node-agent looks for the kubelet's pods folder
	// (a constant in Velero: nodeagent.HostPodVolumeMountPath).
	hostPodsMount = "/host_pods"
	// hostPodsVolume is the name Velero looks the DaemonSet's volume up by
	// (nodeagent.HostPodVolumeMount).
	hostPodsVolume = "host-pods"
)

// nodeAgentScript runs node-agent ("$@" after the folder $1) in a mount
// namespace of its own (unshare --mount --propagation private: nothing
// mounted here is seen outside, and it all goes when the process ends)
// where the folder is bound on /host_pods, the kubelet's pods folder as
// node-agent sees it. The empty /host_pods mount point is created on the
// host once and never removed: a run in another namespace may be using it.
const nodeAgentScript = `set -e
mkdir -p ` + hostPodsMount + `
mount --bind "$1" ` + hostPodsMount + `
shift
exec "$@"`

// Node is a cluster node of the test bed: a Node object labelled
// kubernetes.io/os=linux, Velero's node-agent running out of cluster on it
// (a node-agent DaemonSet object, its Running pod, and `velero node-agent
// server` with NODE_NAME in a private mount namespace where HostPods is
// bound on /host_pods), and a kubelet for the node (see nodekubelet.go)
// that runs the pods Velero starts there for real: the hosting pods of
// file-system backups and restores (`velero pod-volume backup|restore`) and
// repository maintenance Jobs, with bin/velero.
//
// Workload pods are created with spec.nodeName NodeName (or, in namespaces
// labelled NodeLabel, bound by the Node's scheduler); the kubelet marks
// them Running and "mounts" their volumes under
// HostPods/<podUID>/volumes/: a PVC bound to a spec.local PV as a symlink
// to the PV's folder, an emptyDir as a folder. LocalVolume makes such PVCs.
//
// Needs root (mount namespaces) and util-linux's unshare.
type Node struct {
	// Name is NodeName.
	Name string
	// HostPods is the kubelet's pods folder of the node on the host.
	HostPods string
	// LogPath holds node-agent's output; each pod's output is in
	// PodLogPath.
	LogPath string

	cp      *ControlPlane
	v       *Velero
	bin     string // bin/velero
	work    string
	kubelet *nodeKubelet
	proc    *process // node-agent
	// logsPort is the kubelet API's (serveLogs).
	logsPort int
}

// RequireRoot skips tb when the test does not run as root (a mount
// namespace needs it), saying so. CI runs as root: there it runs.
func RequireRoot(tb TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	s, ok := tb.(interface{ Skip(args ...any) })
	if !ok {
		tb.Fatalf("testbed: a Node needs root (mount namespaces)")
	}
	s.Skip("testbed: a Node (node-agent out of cluster) needs root for its mount namespaces; make test runs as root in CI")
}

// StartNode registers a Node, starts its kubelet and Velero's node-agent on
// it against cp and v's namespace, waits until node-agent's controllers run,
// and stops everything when the test ends (logging node-agent's output
// when it failed). It skips when not root (RequireRoot) and under -short.
func StartNode(tb TB, cp *ControlPlane, v *Velero) *Node {
	tb.Helper()
	skipShort(tb)
	RequireRoot(tb)
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		tb.Fatalf("testbed: a Node needs util-linux's unshare: %v", err)
	}
	ctx := tb.Context()
	start := time.Now()
	work := tb.TempDir()
	n := &Node{
		Name:     NodeName,
		HostPods: filepath.Join(work, "pods"),
		LogPath:  filepath.Join(work, "node-agent.log"),
		cp:       cp,
		v:        v,
		bin:      veleroBin(tb),
		work:     work,
	}
	for _, dir := range []string{n.HostPods, n.dir("home"), n.dir("tmp"), n.dir("volumes"), n.dir("run")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			tb.Fatalf("testbed: %v", err)
		}
	}
	n.logsPort = n.serveLogs(tb)
	n.register(tb, ctx)
	n.kubelet = startNodeKubelet(tb, n)

	args := []string{"--mount", "--propagation", "private", "--", "sh", "-c", nodeAgentScript, "sh", n.HostPods,
		n.bin, "node-agent", "server",
		"--kubeconfig", cp.Kubeconfig,
		"--metrics-address", "127.0.0.1:" + strconv.Itoa(FreePort(tb)),
		"--log-format", "text",
	}
	env := n.env(
		"NODE_NAME="+n.Name,
		"VELERO_NAMESPACE="+v.Namespace,
		"HOME="+n.dir("home"),
		"TMPDIR="+n.dir("tmp"),
	)
	n.proc, err = startProcess("node-agent", unshare, args, env, n.LogPath)
	if err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	tb.Cleanup(func() {
		if err := n.proc.stop(); err != nil {
			tb.Errorf("testbed: stop node-agent: %v", err)
		}
		if tb.Failed() {
			tb.Logf("node-agent output (tail of %s):\n%s", n.LogPath, tailBytes(n.LogPath, veleroLogTailBytes))
			for _, r := range n.Runs() {
				tb.Logf("velero %v of pod %s/%s, exit %d (tail of %s):\n%s", r.Args, r.Namespace, r.Name, r.ExitCode, r.LogPath, tail(r.LogPath))
			}
		}
	})
	n.waitStarted(tb, ctx)
	tb.Logf("testbed: node %s up (node-agent running) in %s", n.Name, time.Since(start).Round(time.Millisecond))
	return n
}

// dir returns the Node's folder name under its work folder.
func (n *Node) dir(name string) string { return filepath.Join(n.work, name) }

// env is the environment of node-agent and the pods the kubelet runs: the
// Velero server's (its S3 credentials file), then extra.
func (n *Node) env(extra ...string) []string {
	base := []string{
		"AWS_SHARED_CREDENTIALS_FILE=" + n.v.credentials,
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	return ChildEnv(append(base, extra...)...)
}

// register creates the Node, the node-agent DaemonSet (what Velero copies
// into the pods it starts: image, env, the host-pods volume, whose hostPath
// is HostPods, so the pods' volume paths are real folders on the host) and
// node-agent's Running pod, with its folder under HostPods (node-agent
// checks that every Running pod of its node has one).
func (n *Node) register(tb TB, ctx context.Context) {
	tb.Helper()
	c := n.cp.Client
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: n.Name, Labels: map[string]string{
		corev1.LabelOSStable: "linux", corev1.LabelHostname: n.Name,
	}}}
	if err := c.Create(ctx, node); err != nil {
		tb.Fatalf("testbed: create Node %s: %v", n.Name, err)
	}
	node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	// Where the API server reaches the kubelet API (pods/log): only an
	// IP, as no name of the Node resolves.
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(n.logsPort) //nolint:gosec // a port
	if err := c.Status().Update(ctx, node); err != nil {
		tb.Fatalf("testbed: Node %s Ready: %v", n.Name, err)
	}

	labels := map[string]string{"name": "node-agent", "role": "node-agent"}
	env := append(n.v.podEnv(), corev1.EnvVar{Name: "NODE_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "spec.nodeName"}}})
	spec := corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:         "node-agent",
			Image:        "velero/velero:v1.18.3",
			Command:      []string{"/velero"},
			Args:         []string{"node-agent", "server", "--log-format", "text"},
			Env:          env,
			VolumeMounts: []corev1.VolumeMount{{Name: hostPodsVolume, MountPath: hostPodsMount}},
		}},
		Volumes: []corev1.Volume{{Name: hostPodsVolume, VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: n.HostPods}}}},
	}
	ds := &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: n.v.Namespace, Labels: map[string]string{"component": "velero"}},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}
	if err := c.Create(ctx, ds); err != nil {
		tb.Fatalf("testbed: create the node-agent DaemonSet: %v", err)
	}
	ds.Status = appsv1.DaemonSetStatus{CurrentNumberScheduled: 1, DesiredNumberScheduled: 1, NumberReady: 1, NumberAvailable: 1, UpdatedNumberScheduled: 1, ObservedGeneration: ds.Generation}
	if err := c.Status().Update(ctx, ds); err != nil {
		tb.Fatalf("testbed: node-agent DaemonSet status: %v", err)
	}

	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "node-agent-" + n.Name, Namespace: n.v.Namespace, Labels: labels}, Spec: *spec.DeepCopy()}
	pod.Spec.NodeName = n.Name
	if err := c.Create(ctx, pod); err != nil {
		tb.Fatalf("testbed: create the node-agent pod: %v", err)
	}
	now := metav1.Now()
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning, StartTime: &now,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}},
		ContainerStatuses: []corev1.ContainerStatus{{
			Name: "node-agent", Image: pod.Spec.Containers[0].Image, Ready: true, Started: ptr.To(true),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		}},
	}
	if err := c.Status().Update(ctx, pod); err != nil {
		tb.Fatalf("testbed: node-agent pod Running: %v", err)
	}
	if err := os.Mkdir(filepath.Join(n.HostPods, string(pod.UID)), 0o700); err != nil {
		tb.Fatalf("testbed: %v", err)
	}
}

// waitStarted waits until node-agent says its controllers run, or fails
// with its output when it exits or takes longer than a minute.
func (n *Node) waitStarted(tb TB, ctx context.Context) {
	tb.Helper()
	err := wait.PollUntilContextTimeout(ctx, pollInterval, nodeAgentStartTimeout, true, func(context.Context) (bool, error) {
		if err := n.proc.exited(); err != nil {
			return false, err
		}
		b, err := os.ReadFile(n.LogPath)
		if err != nil {
			return false, err
		}
		if containsAll(b, "fs-backup is disabled") {
			return false, errors.New("node-agent does not see " + hostPodsMount)
		}
		return containsAll(b, "Starting Controller", "podvolumebackup"), nil
	})
	if err != nil {
		tb.Fatalf("testbed: node-agent on %s: %v\nnode-agent output:\n%s", n.Name, err, tailBytes(n.LogPath, veleroLogTailBytes))
	}
}

// PodLogPath is the file holding the output of the process the kubelet ran
// for the pod with uid.
func (n *Node) PodLogPath(uid string) string {
	return filepath.Join(n.dir("run"), uid, "output.log")
}

// Runs returns the pods whose containers the kubelet ran, sorted.
func (n *Node) Runs() []NodeRun { return n.kubelet.Runs() }
