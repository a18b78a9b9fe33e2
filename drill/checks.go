package drill

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/audit"
)

// listPage bounds one List call's items.
const listPage = 1000

// notRestored are kinds Velero never restores (restore_controller.go
// nonRestorableResources), by "<group>/<Kind>".
var notRestored = map[string]bool{
	"/Event": true, "events.k8s.io/Event": true,
	"velero.io/Backup": true, "velero.io/Restore": true,
	"velero.io/ResticRepository": true, "velero.io/BackupRepository": true,
	"storage.k8s.io/CSINode": true, "storage.k8s.io/VolumeAttachment": true,
	// Velero's record of a moved CSI snapshot, in its own namespace: its
	// restore reads it (DataUploadRetrieveAction) and skips it.
	dataUploadKind: true,
}

// dataUploadKind and dataUploadResource name Velero's DataUploads in the
// resource list and in the tarball.
const (
	dataUploadKind     = "velero.io/DataUpload"
	dataUploadResource = "datauploads.velero.io"
)

// expected is the namespaced items the presence check looks for, by kind.
type expected struct {
	byKind map[schema.GroupVersionKind][]objectRef
	total  int
	// excluded counts the items left out on purpose (Isolation), by kind.
	excluded map[string]int
}

// expectedItems reads the backup's resource list ("apps/v1/Deployment" ->
// ["ns/name", ...]) and keeps the namespaced items Velero restores and
// excludedKinds (by "<group>/<Kind>") does not leave out.
func expectedItems(resources map[string][]string, skipped map[objectRef]bool, excludedKinds map[string]bool) (expected, error) {
	exp := expected{byKind: map[schema.GroupVersionKind][]objectRef{}, excluded: map[string]int{}}
	for key, items := range resources {
		gvk, err := parseGVK(key)
		if err != nil {
			return exp, err
		}
		gk := gvk.Group + "/" + gvk.Kind
		if notRestored[gk] {
			continue
		}
		for _, item := range items {
			ns, name, ok := strings.Cut(item, "/")
			if !ok {
				continue // cluster-scoped
			}
			ref := objectRef{gk: gk, namespace: ns, name: name}
			if excludedKinds[gk] {
				exp.excluded[kindName(gvk.Group, gvk.Kind)]++
				continue
			}
			if skipped[ref] {
				continue
			}
			exp.byKind[gvk] = append(exp.byKind[gvk], ref)
			exp.total++
		}
	}
	return exp, nil
}

// parseGVK parses a resource list key: "v1/Secret", "apps/v1/Deployment".
func parseGVK(key string) (schema.GroupVersionKind, error) {
	parts := strings.Split(key, "/")
	switch {
	case len(parts) == 2 && parts[0] != "" && parts[1] != "":
		return schema.GroupVersionKind{Version: parts[0], Kind: parts[1]}, nil
	case len(parts) == 3 && parts[0] != "" && parts[1] != "" && parts[2] != "":
		return schema.GroupVersionKind{Group: parts[0], Version: parts[1], Kind: parts[2]}, nil
	}
	return schema.GroupVersionKind{}, fmt.Errorf("resource list: bad kind %q", key)
}

// restored is what was read back from the destination namespaces: for
// ConfigMaps and Secrets their content digests, for other kinds names.
type restored struct {
	digests map[objectRef]string       // by source namespace
	names   map[string]map[string]bool // "<gvk> <source ns>" -> names
}

// readContent lists the ConfigMaps and Secrets of each destination
// namespace (one paged List each) and digests them.
func (r *runner) readContent(ctx context.Context, mapping map[string]string) (*restored, error) {
	got := &restored{digests: map[objectRef]string{}, names: map[string]map[string]bool{}}
	for src, dst := range mapping {
		cmNames, sNames := map[string]bool{}, map[string]bool{}
		err := listAll(ctx, r.opts.Reader, &corev1.ConfigMapList{}, dst, func(l client.ObjectList) {
			for i := range l.(*corev1.ConfigMapList).Items {
				cm := &l.(*corev1.ConfigMapList).Items[i]
				cmNames[cm.Name] = true
				got.digests[objectRef{"/" + kindConfigMap, src, cm.Name}] = configMapDigest(cm)
			}
		})
		if err != nil {
			return nil, err
		}
		err = listAll(ctx, r.opts.Reader, &corev1.SecretList{}, dst, func(l client.ObjectList) {
			for i := range l.(*corev1.SecretList).Items {
				s := &l.(*corev1.SecretList).Items[i]
				sNames[s.Name] = true
				got.digests[objectRef{"/" + kindSecret, src, s.Name}] = secretDigest(s)
			}
		})
		if err != nil {
			return nil, err
		}
		got.names[namesKey(corev1.SchemeGroupVersion.WithKind(kindConfigMap), src)] = cmNames
		got.names[namesKey(corev1.SchemeGroupVersion.WithKind(kindSecret), src)] = sNames
	}
	return got, nil
}

func namesKey(gvk schema.GroupVersionKind, src string) string { return gvk.String() + " " + src }

// listAll lists every object of list's type in namespace ns, page by page.
func listAll(ctx context.Context, rd client.Reader, list client.ObjectList, ns string, each func(client.ObjectList)) error {
	opts := []client.ListOption{client.InNamespace(ns), client.Limit(listPage)}
	for {
		if err := rd.List(ctx, list, opts...); err != nil {
			return fmt.Errorf("list %T in %s: %w", list, ns, err)
		}
		each(list)
		cont := list.(metav1.ListInterface).GetContinue()
		if cont == "" {
			return nil
		}
		opts = []client.ListOption{client.InNamespace(ns), client.Limit(listPage), client.Continue(cont)}
	}
}

// checkPresence looks for every expected item in its destination namespace:
// one List (metadata only) per kind and namespace.
func (r *runner) checkPresence(ctx context.Context, exp expected, mapping map[string]string, got *restored) (audit.CheckResult, error) {
	var missing []string
	kinds := slices.SortedFunc(maps.Keys(exp.byKind), func(a, b schema.GroupVersionKind) int { return strings.Compare(a.String(), b.String()) })
	for _, gvk := range kinds {
		for _, ref := range exp.byKind[gvk] {
			names, err := r.namesIn(ctx, gvk, ref.namespace, mapping, got)
			if err != nil {
				return audit.CheckResult{}, err
			}
			if !names[ref.name] {
				missing = append(missing, ref.String())
			}
		}
	}
	res := audit.CheckResult{Name: CheckPresence, Passed: len(missing) == 0}
	if res.Passed {
		res.Message = fmt.Sprintf("all %d namespaced items of the resource list are present", exp.total) + exp.excludedNote()
		return res, nil
	}
	slices.Sort(missing)
	res.Message = fmt.Sprintf("%d of %d namespaced items are missing", len(missing), exp.total) + exp.excludedNote()
	res.Objects = firstObjects(missing)
	return res, nil
}

// namesIn returns the names of kind gvk restored from source namespace src,
// listing them on first use.
func (r *runner) namesIn(ctx context.Context, gvk schema.GroupVersionKind, src string, mapping map[string]string, got *restored) (map[string]bool, error) {
	key := namesKey(gvk, src)
	if names, ok := got.names[key]; ok {
		return names, nil
	}
	names := map[string]bool{}
	dst, ok := mapping[src]
	if !ok {
		got.names[key] = names
		return names, nil
	}
	list := &metav1.PartialObjectMetadataList{}
	list.SetGroupVersionKind(gvk.GroupVersion().WithKind(gvk.Kind + "List"))
	err := listAll(ctx, r.opts.Reader, list, dst, func(l client.ObjectList) {
		for _, it := range l.(*metav1.PartialObjectMetadataList).Items {
			names[it.Name] = true
		}
	})
	if meta.IsNoMatchError(err) {
		err = nil // the cluster does not serve the kind: every item is missing
	}
	if err != nil {
		return nil, err
	}
	got.names[key] = names
	return names, nil
}

// excludedNote says which kinds were not looked for, and why.
func (e expected) excludedNote() string {
	if len(e.excluded) == 0 {
		return ""
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(e.excluded)) {
		parts = append(parts, fmt.Sprintf("%d %s", e.excluded[k], k))
	}
	return "; not restored by the isolation policy, not looked for: " + strings.Join(parts, ", ")
}

// checkContent compares every ConfigMap and Secret of the tarball with its
// restored copy (Isolation never changes them) and names the kinds that
// the isolation policy changed, which it does not compare.
func checkContent(facts *tarballFacts, mapping map[string]string, got *restored, changes *Changes) audit.CheckResult {
	var differ []string
	total := 0
	for ref, want := range facts.digests {
		if _, ok := mapping[ref.namespace]; !ok {
			continue
		}
		total++
		have, ok := got.digests[ref]
		switch {
		case !ok:
			differ = append(differ, ref.String()+" (not restored)")
		case have != want:
			differ = append(differ, ref.String())
		}
	}
	note := ""
	if changes != nil && len(changes.Modified) > 0 {
		var parts []string
		for _, k := range changes.Modified {
			parts = append(parts, k.String())
		}
		note = "; changed by the isolation policy, not compared: " + strings.Join(parts, ", ")
	}
	res := audit.CheckResult{Name: CheckContent, Passed: len(differ) == 0}
	if res.Passed {
		res.Message = fmt.Sprintf("%d ConfigMaps and Secrets equal the backup's", total) + note
		return res
	}
	slices.Sort(differ)
	res.Message = fmt.Sprintf("%d of %d ConfigMaps and Secrets differ from the backup's", len(differ), total) + note
	res.Objects = firstObjects(differ)
	return res
}

// firstObjects bounds a list of failing objects to MaxObjectsNamed.
func firstObjects(objs []string) []string {
	if len(objs) > MaxObjectsNamed {
		return objs[:MaxObjectsNamed]
	}
	return objs
}
