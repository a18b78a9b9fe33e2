package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Namespaces the kustomize base uses, and what the chart puts there.
const (
	controllerNamespace = "safekeep-system"
	veleroNamespace     = "velero"
	veleroSentinel      = "__VELERO_NS__"
)

// defaults are values.yaml's defaults, read from the kustomize objects.
type defaults struct {
	Tag                                       string
	Replicas                                  any
	Resources, PodSecurity, ContainerSecurity any
	Affinity, NodeSelector, Tolerations       any
	NamespaceLabels                           map[string]any
	MinAvailable                              any
}

// snippet renders a sentinel's replacement at the indentation of its line.
type snippet func(indent int) string

// templater turns one object into a template: it replaces fields with
// sentinels, marshals, then swaps the sentinels for template text.
type templater struct {
	snippets []snippet
	// wrap is a condition around the whole object, such as
	// ".Values.crds.enabled"; "" renders it always.
	wrap string
}

// sentinel registers s and returns its placeholder.
func (t *templater) sentinel(s snippet) string {
	t.snippets = append(t.snippets, s)
	return "zz_H" + strconv.Itoa(len(t.snippets)-1) + "_zz" // sorts last among the keys of a map
}

// value replaces a field's value with text (a scalar template).
func (t *templater) value(text string) string {
	return t.sentinel(func(int) string { return text })
}

// block replaces a field's value with toYaml of a values path.
func (t *templater) block(path string) string {
	return t.sentinel(func(indent int) string {
		return fmt.Sprintf("\n%s{{- toYaml %s | nindent %d }}", pad(indent+2), path, indent+2)
	})
}

// optional is a map key whose line becomes `key: toYaml(path)` when path
// is set, and nothing otherwise.
func (t *templater) optional(key, path string) string {
	return t.sentinel(func(indent int) string {
		return fmt.Sprintf("{{- with %s }}\n%s%s:\n%s{{- toYaml . | nindent %d }}\n%s{{- end }}",
			path, pad(indent), key, pad(indent+2), indent+2, pad(indent))
	})
}

// merged is a map key whose line becomes the entries of an include or a
// values map, merged into the surrounding map.
func (t *templater) merged(expr string) string {
	return t.sentinel(func(indent int) string {
		return fmt.Sprintf("{{- with %s }}\n%s{{- toYaml . | nindent %d }}\n%s{{- end }}", expr, pad(indent), indent, pad(indent))
	})
}

func pad(n int) string { return strings.Repeat(" ", n) }

var (
	keyLine   = regexp.MustCompile(`^(\s*)(zz_H(\d+)_zz): x$`)
	itemLine  = regexp.MustCompile(`^(\s*)- (zz_H(\d+)_zz)$`)
	valueLine = regexp.MustCompile(`^(\s*)(\S.*: )(zz_H(\d+)_zz)$`)
)

// render marshals obj and replaces the sentinels.
func (t *templater) render(obj map[string]any) (string, error) {
	b, err := yaml.Marshal(obj)
	if err != nil {
		return "", err
	}
	var out strings.Builder
	for line := range strings.Lines(string(b)) {
		line = strings.TrimSuffix(line, "\n")
		switch {
		case keyLine.MatchString(line):
			m := keyLine.FindStringSubmatch(line)
			out.WriteString(pad(len(m[1])) + t.apply(m[3], len(m[1])))
		case itemLine.MatchString(line):
			m := itemLine.FindStringSubmatch(line)
			out.WriteString(pad(len(m[1])) + t.apply(m[3], len(m[1])))
		case valueLine.MatchString(line):
			m := valueLine.FindStringSubmatch(line)
			out.WriteString(m[1] + strings.TrimSuffix(m[2], " ") + spaceUnlessNewline(t.apply(m[4], len(m[1]))))
		default:
			out.WriteString(line)
		}
		out.WriteByte('\n')
	}
	text := out.String()
	if strings.Contains(text, "zz_H") {
		return "", fmt.Errorf("%s: a sentinel was not replaced:\n%s", name(obj), text)
	}
	text = strings.ReplaceAll(text, controllerNamespace, "{{ .Release.Namespace }}")
	text = strings.ReplaceAll(text, veleroSentinel, "{{ .Values.velero.namespace }}")
	if t.wrap != "" {
		text = "{{- if " + t.wrap + " }}\n" + text + "{{- end }}\n"
	}
	return text, nil
}

func spaceUnlessNewline(s string) string {
	if strings.HasPrefix(s, "\n") {
		return s
	}
	return " " + s
}

func (t *templater) apply(id string, indent int) string {
	n, _ := strconv.Atoi(id) // the regexp matched digits
	return t.snippets[n](indent)
}

// name is the file name of obj's template: kind and name, lower case.
func name(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	if ns, ok := md["namespace"].(string); ok && ns != controllerNamespace {
		return strings.ToLower(fmt.Sprintf("%s.%s.%s", obj["kind"], ns, md["name"])) // a Role in Velero's namespace
	}
	return strings.ToLower(fmt.Sprintf("%s.%s", obj["kind"], md["name"]))
}

// objectTemplate returns the template of one kustomize object and records the
// defaults it holds in d.
func objectTemplate(obj map[string]any, d *defaults) (string, string, error) {
	t := &templater{}
	file := name(obj)
	md := obj["metadata"].(map[string]any)
	if md["namespace"] == veleroNamespace {
		md["namespace"] = veleroSentinel
	}
	labels, _ := md["labels"].(map[string]any)
	if labels == nil {
		labels = map[string]any{}
	}
	labels[t.merged(`(include "safekeep.labels" . | fromYaml)`)] = "x"
	md["labels"] = labels
	switch obj["kind"] {
	case "CustomResourceDefinition":
		t.wrap = ".Values.crds.enabled"
		ann, _ := md["annotations"].(map[string]any)
		if ann == nil {
			ann = map[string]any{}
		}
		ann[t.sentinel(func(indent int) string {
			return fmt.Sprintf("{{- if .Values.crds.keep }}\n%shelm.sh/resource-policy: keep\n%s{{- end }}", pad(indent), pad(indent))
		})] = "x"
		md["annotations"] = ann
	case "Namespace":
		t.wrap = ".Values.namespace.create"
		d.NamespaceLabels = map[string]any{}
		for k, v := range labels {
			if strings.HasPrefix(k, "pod-security.kubernetes.io/") {
				d.NamespaceLabels[k] = v
				delete(labels, k)
			}
		}
		labels[t.merged(".Values.namespace.labels")] = "x"
	case "Deployment":
		if err := deployment(t, obj, d); err != nil {
			return "", "", err
		}
	case "Service":
		t.wrap = ".Values.metrics.service.enabled"
	case "PodDisruptionBudget":
		t.wrap = ".Values.podDisruptionBudget.enabled"
		spec := obj["spec"].(map[string]any)
		d.MinAvailable = spec["minAvailable"]
		spec["minAvailable"] = t.value("{{ .Values.podDisruptionBudget.minAvailable }}")
	case "NetworkPolicy":
		t.wrap = ".Values.networkPolicy.enabled"
		spec := obj["spec"].(map[string]any)
		egress, _ := spec["egress"].([]any)
		spec["egress"] = append(egress, t.sentinel(func(indent int) string {
			return fmt.Sprintf("{{- include \"safekeep.s3Egress\" . | nindent %d }}", indent)
		}))
	}
	text, err := t.render(obj)
	return file, text, err
}

// deployment puts the values into the controller's Deployment.
func deployment(t *templater, obj map[string]any, d *defaults) error {
	spec := obj["spec"].(map[string]any)
	d.Replicas = spec["replicas"]
	spec["replicas"] = t.value("{{ .Values.replicaCount }}")
	tmpl := spec["template"].(map[string]any)
	tmd := tmpl["metadata"].(map[string]any)
	tmd[t.optional("annotations", ".Values.podAnnotations")] = "x"
	tlabels := tmd["labels"].(map[string]any)
	tlabels[t.merged(".Values.podLabels")] = "x"
	ps := tmpl["spec"].(map[string]any)
	d.PodSecurity, ps["securityContext"] = ps["securityContext"], t.block(".Values.podSecurityContext")
	d.Affinity, d.NodeSelector, d.Tolerations = orEmpty(ps["affinity"], map[string]any{}), orEmpty(ps["nodeSelector"], map[string]any{}), orEmpty(ps["tolerations"], []any{})
	delete(ps, "affinity")
	delete(ps, "nodeSelector")
	delete(ps, "tolerations")
	ps[t.optional("affinity", ".Values.affinity")] = "x"
	ps[t.optional("nodeSelector", ".Values.nodeSelector")] = "x"
	ps[t.optional("tolerations", ".Values.tolerations")] = "x"
	ps[t.optional("imagePullSecrets", ".Values.imagePullSecrets")] = "x"
	ps[t.optional("priorityClassName", ".Values.priorityClassName")] = "x"
	containers := ps["containers"].([]any)
	if len(containers) != 1 {
		return fmt.Errorf("deployment: %d containers, the chart expects one", len(containers))
	}
	c := containers[0].(map[string]any)
	image, _ := c["image"].(string)
	c["image"] = t.value(`"{{ include "safekeep.image" . }}"`)
	c[t.optional("imagePullPolicy", ".Values.image.pullPolicy")] = "x"
	d.Resources, c["resources"] = c["resources"], t.block(".Values.resources")
	d.ContainerSecurity, c["securityContext"] = c["securityContext"], t.block(".Values.containerSecurityContext")
	args := c["args"].([]any)
	i := slices.Index(args, any("--velero-namespace="+veleroNamespace))
	if i < 0 {
		return fmt.Errorf("deployment: no arg --velero-namespace=%s for the chart's velero.namespace", veleroNamespace)
	}
	args[i] = "--velero-namespace=" + veleroSentinel
	j := slices.Index(args, any("--volume-reader-image="+image))
	if j < 0 {
		return fmt.Errorf("deployment: no arg --volume-reader-image=%s (the container's image) for the chart's volumeReaderImage", image)
	}
	args[j] = t.sentinel(func(int) string {
		return `- {{ printf "--volume-reader-image=%s" (.Values.volumeReaderImage | default (include "safekeep.image" .)) | quote }}`
	})
	c["args"] = append(args, t.sentinel(func(indent int) string {
		return fmt.Sprintf("{{- with .Values.clusterID }}\n%s- --cluster-id={{ . }}\n%s{{- end }}", pad(indent), pad(indent))
	}), t.sentinel(func(indent int) string {
		return fmt.Sprintf("{{- range .Values.extraArgs }}\n%s- {{ . | quote }}\n%s{{- end }}", pad(indent), pad(indent))
	}))
	env, _ := c["env"].([]any)
	c["env"] = append(env, t.sentinel(func(indent int) string {
		return fmt.Sprintf("{{- with .Values.extraEnv }}\n%s{{- toYaml . | nindent %d }}\n%s{{- end }}", pad(indent), indent, pad(indent))
	}))
	return nil
}

func orEmpty(v, empty any) any {
	if v == nil {
		return empty
	}
	return v
}
