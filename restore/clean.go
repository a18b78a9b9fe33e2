package restore

import (
	"encoding/json"
	"fmt"
)

// instanceMetadata are the metadata fields that belong to one object in
// one cluster, not to its definition: what Velero's restore resets
// (resetMetadata), plus managedFields.
var instanceMetadata = []string{
	"generateName", "selfLink", "uid", "resourceVersion", "generation",
	"creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
	"ownerReferences", "managedFields",
}

// pvcBindAnnotations record a claim's binding in the cluster it came from.
var pvcBindAnnotations = []string{
	"pv.kubernetes.io/bind-completed",
	"pv.kubernetes.io/bound-by-controller",
	"volume.kubernetes.io/selected-node",
}

// jobControllerLabels are what the Job controller adds to a Job's selector
// and template; the API server refuses them on a new Job.
var jobControllerLabels = []string{"controller-uid", "batch.kubernetes.io/controller-uid"}

// CleanObject turns an item of a backup tarball into an object ready for
// `kubectl apply` in another cluster, as Velero's restore does: it drops
// status and the instance metadata (uid, resourceVersion, generation,
// creationTimestamp, deletion fields, ownerReferences, managedFields,
// generateName, selfLink), and, by kind, what only held in the source
// cluster: a Service's cluster IPs (unless headless), node ports and
// health-check node port; a PersistentVolumeClaim's volumeName and binding
// annotations; a Pod's nodeName; a Job's generated selector and
// controller-uid labels. Labels, annotations, finalizers and the spec stay.
func CleanObject(it Item) (map[string]any, error) {
	var obj map[string]any
	if err := json.Unmarshal(it.JSON, &obj); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrBadTarball, itemPath(it), err)
	}
	if obj == nil {
		return nil, fmt.Errorf("%w: %s: not an object", ErrBadTarball, itemPath(it))
	}
	meta, _ := obj["metadata"].(map[string]any)
	for _, k := range instanceMetadata {
		delete(meta, k)
	}
	delete(obj, "status")
	spec, _ := obj["spec"].(map[string]any)
	switch it.Resource {
	case "services":
		cleanService(spec)
	case "persistentvolumeclaims":
		if spec != nil {
			delete(spec, "volumeName")
		}
		if meta != nil {
			deleteAll(meta, "annotations", pvcBindAnnotations)
		}
	case "pods":
		if spec != nil {
			delete(spec, "nodeName")
		}
	case "jobs.batch":
		cleanJob(spec)
	}
	return obj, nil
}

func cleanService(spec map[string]any) {
	if spec == nil {
		return
	}
	if ip, _ := spec["clusterIP"].(string); ip != "None" {
		delete(spec, "clusterIP")
		delete(spec, "clusterIPs")
	}
	delete(spec, "healthCheckNodePort")
	ports, _ := spec["ports"].([]any)
	for _, p := range ports {
		if pm, ok := p.(map[string]any); ok {
			delete(pm, "nodePort")
		}
	}
}

func cleanJob(spec map[string]any) {
	if spec == nil {
		return
	}
	if manual, _ := spec["manualSelector"].(bool); !manual {
		delete(spec, "selector")
	}
	tmpl, _ := spec["template"].(map[string]any)
	if meta, ok := tmpl["metadata"].(map[string]any); ok {
		deleteAll(meta, "labels", jobControllerLabels)
	}
}

// deleteAll deletes keys from the map m[field], and the field when empty.
func deleteAll(m map[string]any, field string, keys []string) {
	sub, ok := m[field].(map[string]any)
	if !ok {
		return
	}
	for _, k := range keys {
		delete(sub, k)
	}
	if len(sub) == 0 {
		delete(m, field)
	}
}

// itemPath is the item's path in the tarball, for messages.
func itemPath(it Item) string {
	if it.Namespace == "" {
		return resourcesDir + "/" + it.Resource + "/" + clusterDir + "/" + it.Name + jsonSuffix
	}
	return resourcesDir + "/" + it.Resource + "/" + namespacesDir + "/" + it.Namespace + "/" + it.Name + jsonSuffix
}
