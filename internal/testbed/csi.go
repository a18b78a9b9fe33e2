package testbed

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// CSIDriver is the test bed's CSI driver: the provisioner of
	// CSIStorageClass and the driver of its volumes and snapshots.
	CSIDriver = "csi.testbed.safekeep.dev"
	// CSIStorageClass is the StorageClass of the test bed's CSI volumes
	// (CSIVolume makes them; the Node's provisioner makes more).
	CSIStorageClass = "testbed-csi"
	// CSISnapshotClass is the VolumeSnapshotClass of CSIDriver, labelled
	// as the one Velero's CSI plugin picks for the driver.
	CSISnapshotClass = "testbed-csi"

	// snapshotterModule holds the snapshot.storage.k8s.io CRDs, at the
	// version Velero pins (found from tools/velero, the module that
	// builds Velero).
	snapshotterModule = "github.com/kubernetes-csi/external-snapshotter/client/v8"
	// veleroSnapshotClassLabel marks the VolumeSnapshotClass Velero uses
	// for a driver (velerov1api.VolumeSnapshotClassSelectorLabel).
	veleroSnapshotClassLabel = "velero.io/csi-volumesnapshot-class"
)

// Group-version-kinds of the snapshot API, read as unstructured objects:
// the product module does not import the snapshotter's client.
var (
	volumeSnapshotGVK        = schema.GroupVersionKind{Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshot"}
	volumeSnapshotContentGVK = schema.GroupVersionKind{Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshotContent"}
	volumeSnapshotClassGVK   = schema.GroupVersionKind{Group: "snapshot.storage.k8s.io", Version: "v1", Kind: "VolumeSnapshotClass"}
)

// EnableCSI makes the Node a CSI node too, enough for Velero's CSI
// snapshot data mover (DataUploads and DataDownloads, run by node-agent in
// pods the kubelet runs with bin/velero):
//   - the snapshot.storage.k8s.io CRDs (Velero's pinned external-snapshotter);
//   - StorageClass CSIStorageClass (provisioner CSIDriver, Immediate) and
//     VolumeSnapshotClass CSISnapshotClass (labelled for Velero);
//   - a snapshotter: a VolumeSnapshot of a CSI PVC copies the volume's
//     folder into a snapshot folder (its snapshotHandle) and gets a
//     VolumeSnapshotContent, both ReadyToUse; a pre-provisioned content
//     (Velero's exposer makes one) is made ReadyToUse with its handle;
//   - the provisioner gives a PVC of CSIStorageClass a CSI PV whose folder
//     is its volumeHandle, filled from the snapshot when the PVC's
//     dataSource is a VolumeSnapshot;
//   - the Node schedules and provisions in the Velero namespace too, where
//     node-agent's exposers create their pods and PVCs.
//
// Velero's server must run with the EnableCSI feature (VeleroFeatures).
func (n *Node) EnableCSI(tb TB) {
	tb.Helper()
	ctx := tb.Context()
	n.cp.InstallCRDs(tb, SnapshotCRDPaths(tb)...)
	c := n.cp.Client
	sc := &storagev1.StorageClass{
		ObjectMeta:        metav1.ObjectMeta{Name: CSIStorageClass},
		Provisioner:       CSIDriver,
		ReclaimPolicy:     ptr.To(corev1.PersistentVolumeReclaimDelete),
		VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate),
	}
	if err := c.Create(ctx, sc); err != nil {
		tb.Fatalf("testbed: create StorageClass %s: %v", sc.Name, err)
	}
	vsc := &unstructured.Unstructured{}
	vsc.SetGroupVersionKind(volumeSnapshotClassGVK)
	vsc.SetName(CSISnapshotClass)
	vsc.SetLabels(map[string]string{veleroSnapshotClassLabel: "true"})
	vsc.Object["driver"] = CSIDriver
	vsc.Object["deletionPolicy"] = "Delete"
	if err := c.Create(ctx, vsc); err != nil {
		tb.Fatalf("testbed: create VolumeSnapshotClass %s: %v", CSISnapshotClass, err)
	}
	if err := os.MkdirAll(n.dir("snapshots"), 0o700); err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	n.ScheduleIn(map[string]string{corev1.LabelMetadataName: n.v.Namespace})
	n.kubelet.mu.Lock()
	n.kubelet.csi = true
	n.kubelet.mu.Unlock()
}

// SnapshotCRDPaths returns the snapshot.storage.k8s.io and
// groupsnapshot.storage.k8s.io CRD files of the external-snapshotter
// client module tools/velero builds Velero with. Install them before
// Velero starts (WithCRDs) when its backups keep CSI snapshots: Velero's
// discovery, read at start, must know VolumeSnapshots to back them up
// ("no matches for snapshot.storage.k8s.io/, Resource=volumesnapshots"
// otherwise); EnableCSI installs them again, unchanged.
func SnapshotCRDPaths(tb TB) []string {
	tb.Helper()
	cmd := exec.CommandContext(tb.Context(), "go", "list", "-m", "-f", "{{.Dir}}", snapshotterModule)
	cmd.Dir = filepath.Join(RepoRoot(tb), "tools", "velero")
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		tb.Fatalf("testbed: find %s: %v", snapshotterModule, err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd")
	files, err := filepath.Glob(filepath.Join(dir, "*snapshot*.yaml"))
	if err != nil || len(files) == 0 {
		tb.Fatalf("testbed: no snapshot CRDs in %s (%v): run `go mod download` in tools/velero", dir, err)
	}
	return files
}

// CSIVolume creates PVC name in namespace ns of CSIStorageClass, bound to
// a new CSI PV (driver CSIDriver) whose folder is dir, and returns the
// PVC: LocalVolume's CSI twin, for volumes Velero snapshots.
func (n *Node) CSIVolume(tb TB, ctx context.Context, ns, name, dir string) *corev1.PersistentVolumeClaim {
	tb.Helper()
	return n.boundVolume(tb, ctx, ns, name, dir, CSIStorageClass)
}

// VolumeDir is the folder of a PV the Node's kubelet mounts: a spec.local
// path, or a CSIDriver volume's handle.
func VolumeDir(pv *corev1.PersistentVolume) (string, error) {
	switch {
	case pv.Spec.Local != nil:
		return pv.Spec.Local.Path, nil
	case pv.Spec.CSI != nil && pv.Spec.CSI.Driver == CSIDriver:
		return pv.Spec.CSI.VolumeHandle, nil
	}
	return "", fmt.Errorf("PV %s is neither a spec.local volume nor one of driver %s, the only kinds this kubelet mounts", pv.Name, CSIDriver)
}

// snapshot brings the VolumeSnapshots one step on, as a CSI snapshotter
// and snapshot controller would.
func (k *nodeKubelet) snapshot(ctx context.Context) error {
	list := &unstructured.UnstructuredList{}
	list.SetGroupVersionKind(volumeSnapshotGVK.GroupVersion().WithKind("VolumeSnapshotList"))
	if err := k.c.List(ctx, list); err != nil {
		return fmt.Errorf("list VolumeSnapshots: %w", err)
	}
	var errs []error
	for i := range list.Items {
		vs := &list.Items[i]
		if ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); ready || vs.GetDeletionTimestamp() != nil {
			continue
		}
		if err := k.snapshotOne(ctx, vs); err != nil {
			errs = append(errs, fmt.Errorf("VolumeSnapshot %s/%s: %w", vs.GetNamespace(), vs.GetName(), err))
		}
	}
	return errors.Join(errs...)
}

// snapshotOne makes one VolumeSnapshot ReadyToUse: a dynamic one (its
// source a PVC) gets a copy of the volume's folder and a new content; a
// pre-provisioned one (its source a content) is bound to that content.
func (k *nodeKubelet) snapshotOne(ctx context.Context, vs *unstructured.Unstructured) error {
	pvcName, _, _ := unstructured.NestedString(vs.Object, "spec", "source", "persistentVolumeClaimName")
	contentName, _, _ := unstructured.NestedString(vs.Object, "spec", "source", "volumeSnapshotContentName")
	var content *unstructured.Unstructured
	var err error
	switch {
	case pvcName != "":
		content, err = k.snapshotPVC(ctx, vs, pvcName)
	case contentName != "":
		content, err = k.readyContent(ctx, contentName)
	default:
		return errors.New("neither a PVC nor a content as source")
	}
	if err != nil || content == nil {
		return err
	}
	size, _, _ := unstructured.NestedInt64(content.Object, "status", "restoreSize")
	status := map[string]any{
		"boundVolumeSnapshotContentName": content.GetName(),
		"readyToUse":                     true,
		"restoreSize":                    resource.NewQuantity(size, resource.BinarySI).String(),
		"creationTime":                   time.Now().UTC().Format(time.RFC3339),
	}
	if err := unstructured.SetNestedMap(vs.Object, status, "status"); err != nil {
		return err
	}
	return k.c.Status().Update(ctx, vs)
}

// snapshotPVC copies the folder of the CSI volume bound to pvcName into a
// snapshot folder and creates the VolumeSnapshotContent (ReadyToUse, its
// handle the folder). It returns nil while the PVC is not bound.
func (k *nodeKubelet) snapshotPVC(ctx context.Context, vs *unstructured.Unstructured, pvcName string) (*unstructured.Unstructured, error) {
	pv, err := k.boundPV(ctx, vs.GetNamespace(), pvcName)
	if err != nil || pv == nil {
		return nil, err
	}
	if pv.Spec.CSI == nil || pv.Spec.CSI.Driver != CSIDriver {
		return nil, fmt.Errorf("PV %s of PVC %s is not a volume of %s", pv.Name, pvcName, CSIDriver)
	}
	name := "snapcontent-" + string(vs.GetUID())
	handle := filepath.Join(k.n.dir("snapshots"), string(vs.GetUID()))
	content := &unstructured.Unstructured{}
	content.SetGroupVersionKind(volumeSnapshotContentGVK)
	err = k.c.Get(ctx, client.ObjectKey{Name: name}, content)
	if apierrors.IsNotFound(err) {
		if err := os.RemoveAll(handle); err != nil { // a copy cut short
			return nil, err
		}
		if err := copyTree(pv.Spec.CSI.VolumeHandle, handle); err != nil {
			return nil, fmt.Errorf("snapshot PV %s: %w", pv.Name, err)
		}
		class, _, _ := unstructured.NestedString(vs.Object, "spec", "volumeSnapshotClassName")
		content = &unstructured.Unstructured{Object: map[string]any{
			"spec": map[string]any{
				"driver":                  CSIDriver,
				"deletionPolicy":          "Delete",
				"volumeSnapshotClassName": class,
				"source":                  map[string]any{"volumeHandle": pv.Spec.CSI.VolumeHandle},
				"volumeSnapshotRef": map[string]any{
					"apiVersion": volumeSnapshotGVK.GroupVersion().String(), "kind": volumeSnapshotGVK.Kind,
					"namespace": vs.GetNamespace(), "name": vs.GetName(), "uid": string(vs.GetUID()),
				},
			},
		}}
		content.SetGroupVersionKind(volumeSnapshotContentGVK)
		content.SetName(name)
		if err := k.c.Create(ctx, content); err != nil {
			return nil, fmt.Errorf("create VolumeSnapshotContent %s: %w", name, err)
		}
	} else if err != nil {
		return nil, err
	}
	size, err := treeSize(handle)
	if err != nil {
		return nil, err
	}
	return content, k.setContentReady(ctx, content, handle, size)
}

// readyContent makes a pre-provisioned content ReadyToUse with the handle
// its source names, and returns it.
func (k *nodeKubelet) readyContent(ctx context.Context, name string) (*unstructured.Unstructured, error) {
	content := &unstructured.Unstructured{}
	content.SetGroupVersionKind(volumeSnapshotContentGVK)
	if err := k.c.Get(ctx, client.ObjectKey{Name: name}, content); err != nil {
		return nil, client.IgnoreNotFound(err) // not created yet
	}
	handle, _, _ := unstructured.NestedString(content.Object, "spec", "source", "snapshotHandle")
	if handle == "" {
		return nil, fmt.Errorf("VolumeSnapshotContent %s has no snapshotHandle", name)
	}
	size, err := treeSize(handle)
	if err != nil {
		return nil, fmt.Errorf("VolumeSnapshotContent %s: %w", name, err)
	}
	return content, k.setContentReady(ctx, content, handle, size)
}

// setContentReady sets a content's status, unless it is ReadyToUse.
func (k *nodeKubelet) setContentReady(ctx context.Context, content *unstructured.Unstructured, handle string, size int64) error {
	if ready, _, _ := unstructured.NestedBool(content.Object, "status", "readyToUse"); ready {
		return nil
	}
	status := map[string]any{
		"snapshotHandle": handle,
		"readyToUse":     true,
		"restoreSize":    size,
		"creationTime":   time.Now().UnixNano(),
	}
	if err := unstructured.SetNestedMap(content.Object, status, "status"); err != nil {
		return err
	}
	return k.c.Status().Update(ctx, content)
}

// snapshotHandle returns the folder of the VolumeSnapshot a PVC's
// dataSource names (ns/name), or "" while it is not ReadyToUse.
func (k *nodeKubelet) snapshotHandle(ctx context.Context, ns, name string) (string, error) {
	vs := &unstructured.Unstructured{}
	vs.SetGroupVersionKind(volumeSnapshotGVK)
	if err := k.c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vs); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	contentName, _, _ := unstructured.NestedString(vs.Object, "status", "boundVolumeSnapshotContentName")
	if ready, _, _ := unstructured.NestedBool(vs.Object, "status", "readyToUse"); !ready || contentName == "" {
		return "", nil
	}
	content := &unstructured.Unstructured{}
	content.SetGroupVersionKind(volumeSnapshotContentGVK)
	if err := k.c.Get(ctx, client.ObjectKey{Name: contentName}, content); err != nil {
		return "", client.IgnoreNotFound(err)
	}
	handle, _, _ := unstructured.NestedString(content.Object, "status", "snapshotHandle")
	return handle, nil
}
