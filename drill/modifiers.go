package drill

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ModifiersKey is the one key of the resource modifiers ConfigMap.
const ModifiersKey = "resource-modifiers.json"

// Velero's resource modifiers format (internal/resourcemodifiers of Velero
// 1.18), version v1. Velero reads it strictly: only these fields.
type resourceModifiers struct {
	Version string         `json:"version"`
	Rules   []modifierRule `json:"resourceModifierRules"`
}

type modifierRule struct {
	Conditions   modifierConditions `json:"conditions"`
	MergePatches []mergePatch       `json:"mergePatches"`
}

type modifierConditions struct {
	GroupResource     string   `json:"groupResource"`
	Namespaces        []string `json:"namespaces,omitempty"`
	ResourceNameRegex string   `json:"resourceNameRegex,omitempty"`
}

// mergePatch is an RFC 7386 JSON merge patch (Velero accepts JSON or YAML).
type mergePatch struct {
	PatchData string `json:"patchData"`
}

// Patches of the scaled and suspended kinds.
const (
	patchScale   = `{"spec":{"replicas":0}}`
	patchSuspend = `{"spec":{"suspend":true}}`
)

// modifierRules are the rules that make what iso lets Velero restore
// inert, in a stable order; none when there is nothing to change.
func (iso *Isolation) modifierRules(facts *tarballFacts) ([]modifierRule, error) {
	var rules []modifierRule
	for _, p := range iso.applies() {
		var patch string
		switch p.change {
		case changeScaled:
			patch = patchScale
		case changeSuspended:
			patch = patchSuspend
		default:
			continue
		}
		rules = append(rules, modifierRule{Conditions: modifierConditions{GroupResource: p.resource}, MergePatches: []mergePatch{{PatchData: patch}}})
	}
	svc, err := serviceRules(facts.exposed)
	if err != nil {
		return nil, err
	}
	return append(rules, svc...), nil
}

// serviceRules make every exposed Service of the backup a ClusterIP
// Service, one rule per Service: a merge patch replaces a list whole, so
// each one's ports are written out again without their nodePort (which a
// ClusterIP Service may not have, and Velero keeps when it was set
// explicitly).
func serviceRules(exposed map[objectRef][]map[string]any) ([]modifierRule, error) {
	refs := slices.SortedFunc(maps.Keys(exposed), func(a, b objectRef) int {
		return cmp.Or(cmp.Compare(a.namespace, b.namespace), cmp.Compare(a.name, b.name))
	})
	var rules []modifierRule
	for _, ref := range refs {
		ports := make([]map[string]any, 0, len(exposed[ref]))
		for _, p := range exposed[ref] {
			q := maps.Clone(p)
			delete(q, "nodePort")
			ports = append(ports, q)
		}
		// null removes a field: those a ClusterIP Service may not carry,
		// and externalIPs, which expose any type on node addresses.
		spec := map[string]any{
			"type": string(corev1.ServiceTypeClusterIP), "ports": ports,
			"externalIPs": nil, "externalTrafficPolicy": nil, "healthCheckNodePort": nil,
			"allocateLoadBalancerNodePorts": nil, "loadBalancerClass": nil, "loadBalancerIP": nil,
			"loadBalancerSourceRanges": nil,
		}
		data, err := json.Marshal(map[string]any{"spec": spec})
		if err != nil {
			return nil, fmt.Errorf("service %s/%s: %w", ref.namespace, ref.name, err)
		}
		rules = append(rules, modifierRule{
			Conditions: modifierConditions{
				GroupResource: servicePolicy.resource, Namespaces: []string{ref.namespace},
				ResourceNameRegex: "^" + regexp.QuoteMeta(ref.name) + "$",
			},
			MergePatches: []mergePatch{{PatchData: string(data)}},
		})
	}
	return rules, nil
}

// createModifiers creates the resource modifiers ConfigMap of the run in
// Velero's namespace, named like the Restore and labelled like the staged
// copy (Cleanup deletes it). It returns "" when there is nothing to modify.
func (r *runner) createModifiers(ctx context.Context, facts *tarballFacts) (string, error) {
	rules, err := r.opts.Isolation.modifierRules(facts)
	if err != nil || len(rules) == 0 {
		return "", err
	}
	data, err := json.MarshalIndent(resourceModifiers{Version: "v1", Rules: rules}, "", "  ")
	if err != nil {
		return "", fmt.Errorf("resource modifiers: %w", err)
	}
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: r.opts.StagedName, Namespace: r.opts.VeleroNamespace, Labels: r.stagedLabels()},
		Data:       map[string]string{ModifiersKey: string(data)},
	}
	err = r.opts.Client.Create(ctx, cm)
	switch {
	case apierrors.IsAlreadyExists(err):
		return "", fmt.Errorf("%w: ConfigMap %s/%s", ErrCollision, cm.Namespace, cm.Name)
	case err != nil:
		return "", fmt.Errorf("create resource modifiers ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err)
	}
	return cm.Name, nil
}
