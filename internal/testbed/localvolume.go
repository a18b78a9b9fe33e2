package testbed

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

const (
	// localStorageClass is the storage class of the test bed's local volumes.
	localStorageClass = "local"
	// pvcProtectionFinalizer is what kube-apiserver's
	// StorageObjectInUseProtection admission adds to every PVC; the
	// kube-controller-manager (which the test bed does not run) removes it.
	pvcProtectionFinalizer = "kubernetes.io/pvc-protection"
	// pvProtectionFinalizer is its PV twin.
	pvProtectionFinalizer = "kubernetes.io/pv-protection"
)

// LocalVolume creates PVC name in namespace ns bound to a new spec.local PV
// (node affinity to the Node) whose folder is dir, as a PV controller would
// bind them, and returns the PVC. A pod on the Node that mounts the PVC sees
// dir's files; Velero backs them up from there.
func (n *Node) LocalVolume(tb TB, ctx context.Context, ns, name, dir string) *corev1.PersistentVolumeClaim {
	tb.Helper()
	return n.boundVolume(tb, ctx, ns, name, dir, localStorageClass)
}

// boundVolume creates PVC name in namespace ns of class bound to a new PV
// (bindVolume) whose folder is dir.
func (n *Node) boundVolume(tb TB, ctx context.Context, ns, name, dir, class string) *corev1.PersistentVolumeClaim {
	tb.Helper()
	pvc := &corev1.PersistentVolumeClaim{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes:      []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			StorageClassName: ptr.To(class),
			Resources:        corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			// Named from the start, so the Node's provisioner (in namespaces
			// it schedules in) leaves this claim to us rather than racing
			// to bind it to a volume of its own.
			VolumeName: localPVName(ns, name),
		},
	}
	if err := n.cp.Client.Create(ctx, pvc); err != nil {
		tb.Fatalf("testbed: create PVC %s/%s: %v", ns, name, err)
	}
	if err := n.bindVolume(ctx, pvc, dir); err != nil {
		tb.Fatalf("testbed: %v", err)
	}
	return pvc
}

// localPVName is the name of the spec.local PV of the claim ns/name.
func localPVName(ns, name string) string { return "local-" + ns + "-" + name }

// bindVolume creates a PV on dir for pvc and binds the two: a CSI volume
// of CSIDriver (its handle dir) for a PVC of CSIStorageClass, else a
// spec.local volume.
func (n *Node) bindVolume(ctx context.Context, pvc *corev1.PersistentVolumeClaim, dir string) error {
	c := n.cp.Client
	size := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	if size.IsZero() {
		size = resource.MustParse("1Gi")
	}
	class := localStorageClass
	if pvc.Spec.StorageClassName != nil && *pvc.Spec.StorageClassName != "" {
		class = *pvc.Spec.StorageClassName
	}
	pv := &corev1.PersistentVolume{
		ObjectMeta: metav1.ObjectMeta{Name: localPVName(pvc.Namespace, pvc.Name)},
		Spec: corev1.PersistentVolumeSpec{
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: size},
			AccessModes:                   pvc.Spec.AccessModes,
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			StorageClassName:              class,
			PersistentVolumeSource:        volumeSource(class, dir),
			ClaimRef:                      &corev1.ObjectReference{Kind: "PersistentVolumeClaim", APIVersion: "v1", Namespace: pvc.Namespace, Name: pvc.Name, UID: pvc.UID},
			NodeAffinity: &corev1.VolumeNodeAffinity{Required: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchExpressions: []corev1.NodeSelectorRequirement{{Key: corev1.LabelHostname, Operator: corev1.NodeSelectorOpIn, Values: []string{n.Name}}},
			}}}},
		},
	}
	if len(pv.Spec.AccessModes) == 0 {
		pv.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	// Idempotent: a round cut short (a conflict on the PVC) is taken up by
	// the next one.
	if err := c.Create(ctx, pv); apierrors.IsAlreadyExists(err) {
		if err := c.Get(ctx, client.ObjectKeyFromObject(pv), pv); err != nil {
			return fmt.Errorf("read PV %s: %w", pv.Name, err)
		}
		if pv.Spec.ClaimRef == nil || pv.Spec.ClaimRef.UID != pvc.UID {
			return fmt.Errorf("PV %s exists for another claim", pv.Name)
		}
	} else if err != nil {
		return fmt.Errorf("create PV %s: %w", pv.Name, err)
	}
	if pv.Status.Phase != corev1.VolumeBound {
		pv.Status.Phase = corev1.VolumeBound
		if err := c.Status().Update(ctx, pv); err != nil {
			return fmt.Errorf("bind PV %s: %w", pv.Name, err)
		}
	}
	pvc.Spec.VolumeName = pv.Name
	pvc.Spec.StorageClassName = &class
	if err := c.Update(ctx, pvc); err != nil {
		return fmt.Errorf("bind PVC %s/%s: %w", pvc.Namespace, pvc.Name, err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{
		Phase:       corev1.ClaimBound,
		AccessModes: pv.Spec.AccessModes,
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: size},
	}
	if err := c.Status().Update(ctx, pvc); err != nil {
		return fmt.Errorf("PVC %s/%s Bound: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// volumeSource is the source of a PV of class on dir.
func volumeSource(class, dir string) corev1.PersistentVolumeSource {
	if class == CSIStorageClass {
		return corev1.PersistentVolumeSource{CSI: &corev1.CSIPersistentVolumeSource{Driver: CSIDriver, VolumeHandle: dir}}
	}
	return corev1.PersistentVolumeSource{Local: &corev1.LocalVolumeSource{Path: dir}}
}

// ScheduleIn makes the Node also schedule pods and provision PVCs (as in
// namespaces labelled NodeLabel) in the namespaces labelled with every one
// of nsLabels: for restores into namespaces whose labels the test does not
// choose (a drill's scratch namespaces). Run no FakeKubelet on the same
// namespaces: it would end their pods at once.
func (n *Node) ScheduleIn(nsLabels map[string]string) {
	n.kubelet.mu.Lock()
	defer n.kubelet.mu.Unlock()
	n.kubelet.schedule = append(n.kubelet.schedule, labels.SelectorFromSet(nsLabels))
}

// provisionAndSchedule, in the namespaces labelled NodeLabel=<node> (and
// those ScheduleIn adds), gives
// each Pending PVC with no volume a new local volume (an empty folder under
// the Node's work folder), and binds each unscheduled pod to the node.
func (k *nodeKubelet) provisionAndSchedule(ctx context.Context) error {
	nss, err := k.scheduledNamespaces(ctx)
	if err != nil {
		return err
	}
	var errs []error
	for _, ns := range nss {
		var pvcs corev1.PersistentVolumeClaimList
		if err := k.c.List(ctx, &pvcs, client.InNamespace(ns.Name)); err != nil {
			return err
		}
		for i := range pvcs.Items {
			if err := k.provision(ctx, &pvcs.Items[i]); err != nil {
				errs = append(errs, err)
			}
		}
		var pods corev1.PodList
		if err := k.c.List(ctx, &pods, client.InNamespace(ns.Name)); err != nil {
			return err
		}
		for i := range pods.Items {
			pod := &pods.Items[i]
			if pod.Spec.NodeName != "" || pod.DeletionTimestamp != nil {
				continue
			}
			binding := &corev1.Binding{
				ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace, UID: pod.UID},
				Target:     corev1.ObjectReference{Kind: "Node", Name: k.n.Name},
			}
			if err := k.c.SubResource("binding").Create(ctx, pod, binding); err != nil {
				errs = append(errs, fmt.Errorf("bind pod %s/%s: %w", pod.Namespace, pod.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// provision gives a Pending PVC with no volume a new one: an empty folder,
// or a copy of the snapshot its dataSource names (a VolumeSnapshot, once
// ReadyToUse). As dynamic provisioners do, it leaves alone a claim with a
// selector: what Velero's data mover restores into (the DataDownload's
// exposer binds it). A claim bound by name whose PV names it without a
// UID (Velero's rebind of a restored volume) is bound as the PV
// controller would; a claim being deleted loses its protection finalizer
// once no running pod mounts it.
func (k *nodeKubelet) provision(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	switch {
	case pvc.DeletionTimestamp != nil:
		return k.unprotect(ctx, pvc)
	case pvc.Spec.VolumeName != "":
		return k.rebind(ctx, pvc)
	case pvc.Spec.Selector != nil:
		return nil
	}
	dir := filepath.Join(k.n.dir("volumes"), pvc.Namespace+"-"+pvc.Name+"-"+string(pvc.UID))
	if pvc.Spec.DataSource != nil {
		ready, err := k.restoreSnapshot(ctx, pvc, dir)
		if err != nil || !ready {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return k.n.bindVolume(ctx, pvc, dir)
}

// restoreSnapshot fills dir (once) with a copy of the snapshot the PVC's
// dataSource names; false while the snapshot is not ReadyToUse.
func (k *nodeKubelet) restoreSnapshot(ctx context.Context, pvc *corev1.PersistentVolumeClaim, dir string) (bool, error) {
	ds := pvc.Spec.DataSource
	if ds.Kind != volumeSnapshotGVK.Kind || ptr.Deref(ds.APIGroup, "") != volumeSnapshotGVK.Group {
		return false, fmt.Errorf("PVC %s/%s: dataSource %s is not a VolumeSnapshot, the only kind this provisioner restores", pvc.Namespace, pvc.Name, ds.Kind)
	}
	handle, err := k.snapshotHandle(ctx, pvc.Namespace, ds.Name)
	if err != nil || handle == "" {
		return false, err
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		return true, err // restored before (or unreadable)
	}
	if err := os.RemoveAll(dir + ".part"); err != nil { // a copy cut short
		return false, err
	}
	if err := copyTree(handle, dir+".part"); err != nil {
		return false, fmt.Errorf("PVC %s/%s from snapshot %s: %w", pvc.Namespace, pvc.Name, ds.Name, err)
	}
	return true, os.Rename(dir+".part", dir)
}

// rebind binds a claim that names its volume to a PV that names the claim
// with no UID yet (kube.ResetPVBinding leaves it so).
func (k *nodeKubelet) rebind(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Status.Phase == corev1.ClaimBound {
		return nil
	}
	pv := &corev1.PersistentVolume{}
	if err := k.c.Get(ctx, client.ObjectKey{Name: pvc.Spec.VolumeName}, pv); err != nil {
		return client.IgnoreNotFound(err)
	}
	ref := pv.Spec.ClaimRef
	if ref == nil || ref.UID != "" || ref.Namespace != pvc.Namespace || ref.Name != pvc.Name {
		return nil // LocalVolume's own binding, or not for this claim
	}
	ref.UID = pvc.UID
	if err := k.c.Update(ctx, pv); err != nil {
		return fmt.Errorf("bind PV %s: %w", pv.Name, err)
	}
	pv.Status.Phase = corev1.VolumeBound
	if err := k.c.Status().Update(ctx, pv); err != nil {
		return fmt.Errorf("bind PV %s: %w", pv.Name, err)
	}
	pvc.Status = corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: pv.Spec.AccessModes, Capacity: pv.Spec.Capacity}
	if err := k.c.Status().Update(ctx, pvc); err != nil {
		return fmt.Errorf("PVC %s/%s Bound: %w", pvc.Namespace, pvc.Name, err)
	}
	return nil
}

// unprotect removes the PVC protection finalizer of a claim being deleted
// once no pod on the node that mounts it is still running.
func (k *nodeKubelet) unprotect(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	i := slices.Index(pvc.Finalizers, pvcProtectionFinalizer)
	if i < 0 {
		return nil
	}
	var pods corev1.PodList
	if err := k.c.List(ctx, &pods, client.InNamespace(pvc.Namespace)); err != nil {
		return err
	}
	for _, pod := range pods.Items {
		if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		if slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
			return v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name
		}) {
			return nil
		}
	}
	pvc.Finalizers = slices.Delete(pvc.Finalizers, i, i+1)
	return client.IgnoreNotFound(k.c.Update(ctx, pvc))
}

// releaseVolumes does what the kube-controller-manager does for PVs: a
// PV whose claim is gone is deleted when its reclaim policy is Delete (and
// its folder with it, when the provisioner made it), and a PV being
// deleted loses its protection finalizer once no claim uses it.
func (k *nodeKubelet) releaseVolumes(ctx context.Context) error {
	var pvs corev1.PersistentVolumeList
	if err := k.c.List(ctx, &pvs); err != nil {
		return err
	}
	var errs []error
	for i := range pvs.Items {
		pv := &pvs.Items[i]
		inUse, err := k.claimed(ctx, pv)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if inUse {
			continue
		}
		if pv.DeletionTimestamp == nil && pv.Spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimDelete {
			if dir, err := VolumeDir(pv); err == nil && filepath.Dir(dir) == k.n.dir("volumes") {
				if err := os.RemoveAll(dir); err != nil {
					errs = append(errs, err)
					continue
				}
			}
			if err := k.c.Delete(ctx, pv); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("delete PV %s: %w", pv.Name, err))
			}
			continue
		}
		j := slices.Index(pv.Finalizers, pvProtectionFinalizer)
		if pv.DeletionTimestamp == nil || j < 0 {
			continue
		}
		pv.Finalizers = slices.Delete(pv.Finalizers, j, j+1)
		if err := k.c.Update(ctx, pv); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("release PV %s: %w", pv.Name, err))
		}
	}
	return errors.Join(errs...)
}

// claimed reports whether a claim still holds pv: the claim its claimRef
// names exists (with that UID, when the reference has one; one without is
// being rebound) and is not being deleted. A PV with no claimRef is held.
func (k *nodeKubelet) claimed(ctx context.Context, pv *corev1.PersistentVolume) (bool, error) {
	ref := pv.Spec.ClaimRef
	if ref == nil {
		return pv.DeletionTimestamp == nil, nil
	}
	pvc := &corev1.PersistentVolumeClaim{}
	err := k.c.Get(ctx, client.ObjectKey{Namespace: ref.Namespace, Name: ref.Name}, pvc)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, err
	}
	return pvc.DeletionTimestamp == nil && (ref.UID == "" || ref.UID == pvc.UID), nil
}

// scheduledNamespaces lists the live namespaces the node schedules in.
func (k *nodeKubelet) scheduledNamespaces(ctx context.Context) ([]corev1.Namespace, error) {
	k.mu.Lock()
	selectors := slices.Clone(k.schedule)
	k.mu.Unlock()
	seen := map[string]bool{}
	var nss []corev1.Namespace
	for _, sel := range selectors {
		var list corev1.NamespaceList
		if err := k.c.List(ctx, &list, client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return nil, err
		}
		for _, ns := range list.Items {
			if !seen[ns.Name] && ns.DeletionTimestamp == nil {
				seen[ns.Name] = true
				nss = append(nss, ns)
			}
		}
	}
	return nss, nil
}

// jobNamespaces are where the node runs Jobs: Velero's namespace and
// those it schedules in.
func (k *nodeKubelet) jobNamespaces(ctx context.Context) ([]string, error) {
	nss, err := k.scheduledNamespaces(ctx)
	out := []string{k.n.v.Namespace}
	for _, ns := range nss {
		out = append(out, ns.Name)
	}
	return out, err
}

// startJobs and finishJobs run the Jobs of jobNamespaces on the node.
func (k *nodeKubelet) startJobs(ctx context.Context) error {
	nss, err := k.jobNamespaces(ctx)
	for _, ns := range nss {
		err = errors.Join(err, startJobs(ctx, k.c, ns, k.n.Name))
	}
	return err
}

func (k *nodeKubelet) finishJobs(ctx context.Context) error {
	nss, err := k.jobNamespaces(ctx)
	for _, ns := range nss {
		err = errors.Join(err, finishJobs(ctx, k.c, ns))
	}
	return err
}

// RunPod creates pod on the Node (spec.nodeName set) and waits (at most a
// minute) until the kubelet has it Running, its volumes mounted.
func (n *Node) RunPod(tb TB, ctx context.Context, pod *corev1.Pod) *corev1.Pod {
	tb.Helper()
	pod.Spec.NodeName = n.Name
	if err := n.cp.Client.Create(ctx, pod); err != nil {
		tb.Fatalf("testbed: create pod %s/%s: %v", pod.Namespace, pod.Name, err)
	}
	err := wait.PollUntilContextTimeout(ctx, pollInterval, locationTimeout, true, func(ctx context.Context) (bool, error) {
		if err := n.cp.Client.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
			return false, err
		}
		return pod.Status.Phase == corev1.PodRunning, nil
	})
	if err != nil {
		tb.Fatalf("testbed: pod %s/%s is %q, not Running: %v", pod.Namespace, pod.Name, pod.Status.Phase, err)
	}
	return pod
}
