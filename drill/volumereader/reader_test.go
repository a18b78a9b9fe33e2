package volumereader

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/safekeep-dev/safekeep/drill"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/volume"
)

const (
	readerImage  = "safekeep-controller:reader-test"
	buildTimeout = 3 * time.Minute
	readTimeout  = 2 * time.Minute
)

// TestReaderLargeVolume: the reader Job runs safekeep-controller for real
// on the test bed's Node, reading a restored volume's claim. With its
// digest list in the log (pods/log through the real API server), the
// controller gets every file's digest; when the kubelet's log rotation
// loses the list (a lowered containerLogMaxSize, then a volume over the
// real 10 MiB), the summary in the pod's termination message stands in:
// its files, bytes and digest are the volume's, and one changed file
// changes the digest, with the same counts.
func TestReaderLargeVolume(t *testing.T) {
	testbed.RequireRoot(t)
	ctx := t.Context()
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "velero", false)
	cp := testbed.StartControlPlane(t)
	v := testbed.StartVelero(t, cp, s3, "velero")
	n := testbed.StartNode(t, cp, v)
	n.RunImage(readerImage, buildController(t))
	cs, err := kubernetes.NewForConfig(cp.Config)
	if err != nil {
		t.Fatal(err)
	}

	read := func(t *testing.T, ns string) drill.VolumeRead {
		t.Helper()
		r := &Reader{Client: cp.Client, Logs: ClientsetLogs(cs), Image: readerImage, Timeout: readTimeout, Poll: 100 * time.Millisecond}
		pv := drill.PodVolume{Namespace: ns, Pod: "app", Volume: "data"}
		start := time.Now()
		got, err := r.Read(ctx, ns, []drill.PodVolume{pv})
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		t.Logf("read in %s", time.Since(start).Round(time.Millisecond))
		return got[pv]
	}
	volumeOf := func(t *testing.T, ns string, files int, name func(int) string) string {
		t.Helper()
		dir := t.TempDir()
		for i := range files {
			p := filepath.Join(dir, name(i))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(fmt.Sprint(i)), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{testbed.NodeLabel: n.Name}}}); err != nil {
			t.Fatal(err)
		}
		n.LocalVolume(t, ctx, ns, "data", dir)
		n.RunPod(t, ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
			Spec: corev1.PodSpec{
				Containers: []corev1.Container{{Name: "app", Image: "app:1", VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
				Volumes:    []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
			},
		})
		return dir
	}
	digestsOf := func(t *testing.T, dir string) volume.Digests {
		t.Helper()
		d, err := volume.DigestsOf(os.DirFS(dir))
		if err != nil {
			t.Fatal(err)
		}
		return d
	}

	short := func(i int) string { return fmt.Sprintf("records/%03d/patient-%05d.json", i%100, i) }
	dir := volumeOf(t, "reader-small", 2000, short)
	want := digestsOf(t, dir)

	t.Run("the whole list through the log", func(t *testing.T) {
		got := read(t, "reader-small")
		if got.Err != nil || got.Summary != nil || len(got.Digests) != len(want) || got.Digests.Sum() != want.Sum() {
			t.Fatalf("read %d digests, summary %+v, err %v; want the %d files' digests", len(got.Digests), got.Summary, got.Err, len(want))
		}
	})

	t.Run("a rotated log: the summary stands in, and a changed file changes it", func(t *testing.T) {
		n.SetContainerLogMaxSize(64 << 10) // the log holds about 500 of the 2000 lines
		t.Cleanup(func() { n.SetContainerLogMaxSize(0) })
		got := read(t, "reader-small")
		if got.Err != nil || got.Digests != nil || got.Summary == nil || *got.Summary != want.Summary() {
			t.Fatalf("read %d digests, summary %+v, err %v; want only the summary %+v", len(got.Digests), got.Summary, got.Err, want.Summary())
		}
		if err := os.WriteFile(filepath.Join(dir, short(1234)), []byte("1235"), 0o600); err != nil {
			t.Fatal(err)
		}
		got = read(t, "reader-small")
		if got.Summary == nil || got.Summary.Files != want.Summary().Files || got.Summary.Bytes != want.Summary().Bytes || got.Summary.Sum == want.Summary().Sum {
			t.Errorf("after one file changed: summary %+v, err %v; want the same counts and another sum than %s", got.Summary, got.Err, want.Summary().Sum)
		}
	})

	t.Run("more volumes than one termination message has room for", func(t *testing.T) {
		// A pod with 2.5 times MaxSummaryVolumes claims: read whole
		// through the log, and, the log lost, by each one's summary; none
		// is left unread for lack of room.
		const ns = "reader-many"
		nvol := volume.MaxSummaryVolumes*5/2 + 1
		if err := cp.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{testbed.NodeLabel: n.Name}}}); err != nil {
			t.Fatal(err)
		}
		pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}}}
		var vols []drill.PodVolume
		want := map[drill.PodVolume]volume.Digests{}
		for i := range nvol {
			dir := t.TempDir()
			for j := range i%3 + 1 {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("record-%d.json", j)), []byte(fmt.Sprint(i, j)), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			claim, name := fmt.Sprintf("claim-%02d", i), fmt.Sprintf("v%02d", i)
			n.LocalVolume(t, ctx, ns, claim, dir)
			pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{Name: name, VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}})
			pod.Spec.Containers[0].VolumeMounts = append(pod.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: name, MountPath: "/data/" + name})
			pv := drill.PodVolume{Namespace: ns, Pod: "app", Volume: name}
			vols = append(vols, pv)
			want[pv] = digestsOf(t, dir)
		}
		n.RunPod(t, ctx, pod)
		readAll := func(t *testing.T) map[drill.PodVolume]drill.VolumeRead {
			t.Helper()
			r := &Reader{Client: cp.Client, Logs: ClientsetLogs(cs), Image: readerImage, Timeout: readTimeout, Poll: 100 * time.Millisecond}
			start := time.Now()
			got, err := r.Read(ctx, ns, vols)
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			t.Logf("read %d volumes in %s", len(vols), time.Since(start).Round(time.Millisecond))
			return got
		}
		got := readAll(t)
		for _, pv := range vols {
			if g := got[pv]; g.Err != nil || g.Summary != nil || g.Digests.Sum() != want[pv].Sum() {
				t.Errorf("%s through the log: %d digests, summary %+v, err %v; want its %d files' digests", pv.Volume, len(g.Digests), g.Summary, g.Err, len(want[pv]))
			}
		}
		n.SetContainerLogMaxSize(64) // every file's line is lost
		t.Cleanup(func() { n.SetContainerLogMaxSize(0) })
		got = readAll(t)
		for _, pv := range vols {
			if g := got[pv]; g.Err != nil || g.Digests != nil || g.Summary == nil || *g.Summary != want[pv].Summary() {
				t.Errorf("%s by its summary: %d digests, summary %+v, err %v; want the summary %+v", pv.Volume, len(g.Digests), g.Summary, g.Err, want[pv].Summary())
			}
		}
		readers := 0
		for _, r := range n.Runs() {
			if r.Namespace == ns {
				readers++
			}
		}
		if want := 2 * 3; readers != want { // two reads of three Jobs each
			t.Errorf("the Node ran %d readers in %s, want %d", readers, ns, want)
		}
	})

	t.Run("a volume whose list is over the kubelet's real 10 MiB", func(t *testing.T) {
		// Long paths: about 290 bytes a line, 40,000 files, 11 MiB of list.
		long := func(i int) string {
			return fmt.Sprintf("scans/%02d/%s-%05d.dcm", i%50, strings.Repeat("series-of-the-imaging-study-", 8), i)
		}
		dir := volumeOf(t, "reader-large", 40000, long)
		want := digestsOf(t, dir)
		got := read(t, "reader-large")
		if got.Err != nil || got.Digests != nil || got.Summary == nil || *got.Summary != want.Summary() {
			t.Fatalf("read %d digests, summary %+v, err %v; want only the summary %+v", len(got.Digests), got.Summary, got.Err, want.Summary())
		}
		var log string
		for _, r := range n.Runs() {
			if r.Namespace == "reader-large" {
				log = r.LogPath
			}
		}
		if st, err := os.Stat(log); err != nil || st.Size() <= testbed.DefaultContainerLogMaxSize {
			t.Errorf("the reader's log: %v, %v; want over %d bytes", st, err, testbed.DefaultContainerLogMaxSize)
		} else {
			t.Logf("the reader wrote %d bytes of log for %d files", st.Size(), len(want))
		}
	})
}

// buildController builds safekeep-controller, the reader's image.
func buildController(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), buildTimeout)
	defer cancel()
	out := filepath.Join(t.TempDir(), "safekeep-controller")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "github.com/safekeep-dev/safekeep/cmd/safekeep-controller")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build safekeep-controller: %v\n%s", err, b)
	}
	return out
}
