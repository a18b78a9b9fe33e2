package drill

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"

	corev1 "k8s.io/api/core/v1"

	"github.com/safekeep-dev/safekeep/restore"
)

// Kinds the content check compares.
const (
	kindConfigMap = "ConfigMap"
	kindSecret    = "Secret"
)

// kubeRootCA is the ConfigMap the cluster itself writes into every
// namespace: the restoring cluster's copy is its own, not the backup's.
const kubeRootCA = "kube-root-ca.crt"

// objectRef names a namespaced object of a kind.
type objectRef struct {
	// gk is "<group>/<Kind>" ("/ConfigMap", "apps/Deployment").
	gk              string
	namespace, name string
}

func (o objectRef) String() string {
	return fmt.Sprintf("%s %s/%s", o.gk, o.namespace, o.name)
}

// tarballFacts is what the checks need from the backup tarball, gathered
// while it streams: nothing but names and digests stays in memory.
type tarballFacts struct {
	// namespaces holds every namespace with an item.
	namespaces map[string]bool
	// digests are the content digests of the ConfigMaps and Secrets the
	// content check compares (see contentDigest).
	digests map[objectRef]string
	// skipped are items Velero does not restore by design: completed Pods
	// and Jobs.
	skipped map[objectRef]bool
	// items counts the items; counts counts them by Velero resource
	// name ("deployments.apps").
	items  int
	counts map[string]int
	// exposed are the Services reachable from outside the cluster (type
	// LoadBalancer or NodePort, or external IPs), with their ports.
	exposed map[objectRef][]map[string]any
	// parseErr is set when the tarball is malformed (and the rest empty).
	parseErr error
}

func newTarballFacts() *tarballFacts {
	return &tarballFacts{
		namespaces: map[string]bool{}, digests: map[objectRef]string{}, skipped: map[objectRef]bool{},
		counts: map[string]int{}, exposed: map[objectRef][]map[string]any{},
	}
}

// inWorkloadNamespace reports whether it is namespaced and in a namespace
// of the backed-up workload: a DataUpload is in Velero's.
func inWorkloadNamespace(it restore.Item) bool {
	return it.Namespace != "" && it.Resource != dataUploadResource
}

// add records one item of the tarball.
func (f *tarballFacts) add(it restore.Item) error {
	f.items++
	f.counts[it.Resource]++
	if !inWorkloadNamespace(it) {
		return nil
	}
	f.namespaces[it.Namespace] = true
	switch it.Resource {
	case "configmaps":
		var cm corev1.ConfigMap
		if err := json.Unmarshal(it.JSON, &cm); err != nil {
			return fmt.Errorf("%w: ConfigMap %s/%s: %w", restore.ErrBadTarball, it.Namespace, it.Name, err)
		}
		if it.Name != kubeRootCA {
			f.digests[objectRef{"/" + kindConfigMap, it.Namespace, it.Name}] = configMapDigest(&cm)
		}
	case "secrets":
		var s corev1.Secret
		if err := json.Unmarshal(it.JSON, &s); err != nil {
			return fmt.Errorf("%w: Secret %s/%s: %w", restore.ErrBadTarball, it.Namespace, it.Name, err)
		}
		// Velero drops a token Secret's token and CA: the cluster refills them.
		if s.Type != corev1.SecretTypeServiceAccountToken {
			f.digests[objectRef{"/" + kindSecret, it.Namespace, it.Name}] = secretDigest(&s)
		}
	case "services":
		var svc struct {
			Spec struct {
				Type        corev1.ServiceType `json:"type"`
				ExternalIPs []string           `json:"externalIPs"`
				Ports       []map[string]any   `json:"ports"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(it.JSON, &svc); err != nil {
			return fmt.Errorf("%w: Service %s/%s: %w", restore.ErrBadTarball, it.Namespace, it.Name, err)
		}
		if t := svc.Spec.Type; t == corev1.ServiceTypeLoadBalancer || t == corev1.ServiceTypeNodePort || len(svc.Spec.ExternalIPs) > 0 {
			f.exposed[objectRef{"/Service", it.Namespace, it.Name}] = svc.Spec.Ports
		}
	case "pods", "jobs.batch":
		var st struct {
			Status struct {
				Phase          string `json:"phase"`
				CompletionTime string `json:"completionTime"`
			} `json:"status"`
		}
		if err := json.Unmarshal(it.JSON, &st); err != nil {
			return fmt.Errorf("%w: %s %s/%s: %w", restore.ErrBadTarball, it.Resource, it.Namespace, it.Name, err)
		}
		// Velero skips completed Pods and Jobs (restore.go isCompleted).
		if it.Resource == "pods" && (st.Status.Phase == string(corev1.PodSucceeded) || st.Status.Phase == string(corev1.PodFailed)) {
			f.skipped[objectRef{"/Pod", it.Namespace, it.Name}] = true
		}
		if it.Resource == "jobs.batch" && st.Status.CompletionTime != "" {
			f.skipped[objectRef{"batch/Job", it.Namespace, it.Name}] = true
		}
	}
	return nil
}

// configMapDigest is the SHA-256 of a ConfigMap's data and binaryData.
func configMapDigest(cm *corev1.ConfigMap) string {
	return digestJSON(struct {
		Data       map[string]string `json:"data,omitempty"`
		BinaryData map[string][]byte `json:"binaryData,omitempty"`
	}{cm.Data, cm.BinaryData})
}

// secretDigest is the SHA-256 of a Secret's type (empty is Opaque, as the
// API server defaults it) and data.
func secretDigest(s *corev1.Secret) string {
	typ := s.Type
	if typ == "" {
		typ = corev1.SecretTypeOpaque
	}
	return digestJSON(struct {
		Type corev1.SecretType `json:"type"`
		Data map[string][]byte `json:"data,omitempty"`
	}{typ, s.Data})
}

// digestJSON hashes v's JSON encoding (map keys sorted; empty maps and nil
// maps encode alike thanks to omitempty).
func digestJSON(v any) string {
	data, err := json.Marshal(v)
	if err != nil { // maps of strings and bytes always encode
		panic(err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

// tarballParser parses the tarball written to it, in its own goroutine.
type tarballParser struct {
	pw    *io.PipeWriter
	done  chan struct{}
	facts *tarballFacts
	err   error
}

func startTarballParser() *tarballParser {
	pr, pw := io.Pipe()
	p := &tarballParser{pw: pw, done: make(chan struct{}), facts: newTarballFacts()}
	go func() {
		defer close(p.done)
		p.err = restore.WalkTarball(pr, p.facts.add)
		// Keep reading so that the upload beside it never blocks; a
		// malformed tarball is a finding of the content check, not a
		// reason to stop staging.
		_, _ = io.Copy(io.Discard, pr)
	}()
	return p
}

func (p *tarballParser) Write(b []byte) (int, error) { return p.pw.Write(b) }

// finish ends the input (with readErr, if the object could not be read)
// and returns what was parsed; the facts carry no items if the tarball is
// malformed, and parseErr says why.
func (p *tarballParser) finish(readErr error) *tarballFacts {
	p.pw.CloseWithError(readErr)
	<-p.done
	if p.err != nil {
		f := newTarballFacts()
		f.parseErr = p.err
		return f
	}
	return p.facts
}
