package auditlog

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/audit"
)

// The keys of an outbox ConfigMap's data.
const (
	outboxCreated = "created"
	outboxActor   = "actor"
	outboxKind    = "kind"
	outboxSubject = "subject"
	outboxDetails = "details"
	outboxOwner   = "owner"
	outboxAfter   = "after"
)

// outboxPrefix starts the name of every outbox ConfigMap.
const outboxPrefix = "safekeep-audit-"

// Outbox keeps the audit entries still to be written in the cluster, one
// ConfigMap each (labelled v1alpha1.LabelAuditOutbox), from before the
// first try until the entry is in the bucket: the fact outlives a
// controller restart and a bucket that refuses it for a while.
type Outbox struct {
	// Client creates and deletes the ConfigMaps.
	Client client.Client
	// Reader lists them, uncached (the manager caches no ConfigMaps).
	Reader client.Reader
	// Namespace holds them: the controller's own; "" means the
	// OffsiteTarget's (development and tests).
	Namespace string
}

// pending is an entry still to be written.
type pending struct {
	// name is the outbox ConfigMap's; "" for an entry kept only in
	// memory (the API server refused it too).
	name    string
	ns      string
	created time.Time
	rec     audit.Record // Details is canonical JSON (json.RawMessage)
	// owner is the kind whose status names the entry once written (see
	// Auditor.OnWritten); "" for none.
	owner string
	// fresh says no writer has tried it yet: it cannot be in the log.
	fresh bool
	// after, when bounded, is the seq of a committed entry older than any
	// try of this one (the head its writer knew before the first try): a
	// retry takes only a later entry for it, never an identical record
	// written before. Unbounded (the head was not known, or an outbox item
	// of an older controller), any matching entry counts.
	after   uint64
	bounded bool
}

// namespace is where t's outbox ConfigMaps live.
func (o *Outbox) namespace(targetNS string) string { return cmp.Or(o.Namespace, targetNS) }

// add keeps p in the cluster and sets p.name.
func (o *Outbox) add(ctx context.Context, tns, tname string, p *pending) error {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: outboxPrefix,
			Namespace:    o.namespace(tns),
			Labels:       map[string]string{v1alpha1.LabelAuditOutbox: v1alpha1.AuditOutboxTargetValue(tns, tname)},
			Annotations:  map[string]string{v1alpha1.AnnotationAuditTarget: tns + "/" + tname},
		},
		Data: map[string]string{
			outboxCreated: p.created.UTC().Format(time.RFC3339Nano),
			outboxActor:   p.rec.Actor,
			outboxKind:    string(p.rec.Kind),
			outboxSubject: p.rec.Subject,
			outboxOwner:   p.owner,
		},
	}
	if d, ok := p.rec.Details.(json.RawMessage); ok && len(d) > 0 {
		cm.Data[outboxDetails] = string(d)
	}
	if p.bounded {
		cm.Data[outboxAfter] = strconv.FormatUint(p.after, 10)
	}
	if err := o.Client.Create(ctx, cm); err != nil {
		return fmt.Errorf("keep audit entry %s in the cluster: %w", p.rec.Kind, err)
	}
	p.name, p.ns = cm.Name, cm.Namespace
	return nil
}

// list returns the entries kept for target tns/tname, oldest first.
func (o *Outbox) list(ctx context.Context, tns, tname string) ([]*pending, error) {
	var cms corev1.ConfigMapList
	err := o.Reader.List(ctx, &cms, client.InNamespace(o.namespace(tns)),
		client.MatchingLabels{v1alpha1.LabelAuditOutbox: v1alpha1.AuditOutboxTargetValue(tns, tname)})
	if err != nil {
		return nil, fmt.Errorf("list the audit outbox: %w", err)
	}
	out := make([]*pending, 0, len(cms.Items))
	for i := range cms.Items {
		cm := &cms.Items[i]
		if cm.Annotations[v1alpha1.AnnotationAuditTarget] != tns+"/"+tname || cm.DeletionTimestamp != nil {
			continue // another target whose name hashed alike, or going
		}
		out = append(out, fromConfigMap(cm))
	}
	slices.SortStableFunc(out, func(a, b *pending) int {
		return cmp.Or(a.created.Compare(b.created), cmp.Compare(a.name, b.name))
	})
	return out, nil
}

// fromConfigMap reads an outbox ConfigMap. A creation time that does not
// parse falls back to the object's: the entry is still written, in about
// its place. An item without "after" (written by an older controller) is
// unbounded.
func fromConfigMap(cm *corev1.ConfigMap) *pending {
	created, err := time.Parse(time.RFC3339Nano, cm.Data[outboxCreated])
	if err != nil {
		created = cm.CreationTimestamp.Time
	}
	p := &pending{
		name: cm.Name, ns: cm.Namespace, created: created, owner: cm.Data[outboxOwner],
		rec: audit.Record{Actor: cm.Data[outboxActor], Kind: audit.Kind(cm.Data[outboxKind]), Subject: cm.Data[outboxSubject]},
	}
	if d := cm.Data[outboxDetails]; d != "" {
		p.rec.Details = json.RawMessage(d)
	}
	if a, ok := cm.Data[outboxAfter]; ok {
		// One that does not parse leaves the entry unbounded: found as
		// before, never written twice.
		after, err := strconv.ParseUint(a, 10, 64)
		p.after, p.bounded = after, err == nil
	}
	return p
}

// remove deletes p's ConfigMap once its entry is in the log; one already
// gone is fine.
func (o *Outbox) remove(ctx context.Context, p *pending) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: p.ns}}
	if err := o.Client.Delete(ctx, cm); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("remove written audit entry from the outbox: %w", err)
	}
	return nil
}
