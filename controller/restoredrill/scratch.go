package restoredrill

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/drill"
)

// drillReaderBinding names the RoleBinding of v1alpha1.DrillReaderClusterRole in a
// scratch namespace.
const drillReaderBinding = "safekeep-drill-reader"

// bindTimeout bounds the wait for a new RoleBinding to take effect.
const bindTimeout = 15 * time.Second

// errNotScratch: the controller was about to delete, or bind itself in, a
// namespace that is not a drill's scratch namespace. RBAC cannot limit
// namespace rights by label, so the code refuses.
var errNotScratch = errors.New("not a drill scratch namespace")

// direct is the uncached client the engine uses.
func (r *Reconciler) direct() client.Client {
	if r.Direct != nil {
		return r.Direct
	}
	return r.Client
}

// scratchClient is the client the drill engine gets: creating a scratch
// namespace also binds v1alpha1.DrillReaderClusterRole there to the controller,
// and a namespace without v1alpha1.LabelDrill and drill.LabelScratch is never
// deleted through it.
func (r *Reconciler) scratchClient() client.Client {
	return &scratchClient{Client: r.direct(), role: r.ReaderClusterRole, self: &r.self}
}

// scratchClient decorates a client; see Reconciler.scratchClient.
type scratchClient struct {
	client.Client
	role string // "-": bind none
	self *selfSubject
}

// isScratch reports whether labels mark a drill's scratch namespace.
func isScratch(labels map[string]string) bool {
	return labels[v1alpha1.LabelDrill] != "" && labels[v1alpha1.LabelDrillRun] != "" && labels[drill.LabelScratch] == "true"
}

// Create creates obj; for a scratch namespace, it then binds the reader
// role in it.
func (c *scratchClient) Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error {
	if err := c.Client.Create(ctx, obj, opts...); err != nil {
		return err
	}
	ns, ok := obj.(*corev1.Namespace)
	if !ok || !isScratch(ns.Labels) || c.role == "-" {
		return nil
	}
	return c.bind(ctx, ns)
}

// Delete refuses to delete a namespace that is not a scratch namespace
// (read again, uncached, when obj does not carry its labels).
func (c *scratchClient) Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error {
	if ns, ok := obj.(*corev1.Namespace); ok {
		labels := ns.Labels
		if !isScratch(labels) {
			cur := &corev1.Namespace{}
			if err := c.Get(ctx, client.ObjectKey{Name: ns.Name}, cur); err != nil {
				return err
			}
			labels = cur.Labels
		}
		if !isScratch(labels) {
			return fmt.Errorf("delete namespace %s: %w", ns.Name, errNotScratch)
		}
	}
	return c.Client.Delete(ctx, obj, opts...)
}

// DeleteAllOf is refused for namespaces.
func (c *scratchClient) DeleteAllOf(ctx context.Context, obj client.Object, opts ...client.DeleteAllOfOption) error {
	if _, ok := obj.(*corev1.Namespace); ok {
		return fmt.Errorf("delete all namespaces: %w", errNotScratch)
	}
	return c.Client.DeleteAllOf(ctx, obj, opts...)
}

// bind creates the RoleBinding of the reader role to the controller in ns.
func (c *scratchClient) bind(ctx context.Context, ns *corev1.Namespace) error {
	subject, err := c.self.get(ctx, c.Client)
	if err != nil {
		return fmt.Errorf("bind %s in namespace %s: %w", c.role, ns.Name, err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: drillReaderBinding, Namespace: ns.Name, Labels: map[string]string{v1alpha1.LabelDrill: ns.Labels[v1alpha1.LabelDrill]}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: c.role},
		Subjects:   []rbacv1.Subject{subject},
	}
	if err := c.Client.Create(ctx, rb); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s in namespace %s: %w", c.role, ns.Name, err)
	}
	return c.awaitRestoreInto(ctx, ns.Name)
}

// awaitRestoreInto waits (bounded) until the API server's authorizer sees
// the new binding: the admission policy on Restores asks it whether the
// controller may restore into ns, and RBAC takes effect asynchronously.
func (c *scratchClient) awaitRestoreInto(ctx context.Context, ns string) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, bindTimeout, true, func(ctx context.Context) (bool, error) {
		review := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: v1alpha1.RestoreIntoVerb, Group: v1alpha1.GroupVersion.Group, Resource: v1alpha1.ScratchResource,
			},
		}}
		if err := c.Client.Create(ctx, review); err != nil {
			return false, fmt.Errorf("ask the API server what the controller may do in namespace %s: %w", ns, err)
		}
		return review.Status.Allowed, nil
	})
	if err != nil {
		return fmt.Errorf("bind %s in namespace %s: the controller does not hold %s on %s.%s there (does the role grant it?): %w",
			c.role, ns, v1alpha1.RestoreIntoVerb, v1alpha1.ScratchResource, v1alpha1.GroupVersion.Group, err)
	}
	return nil
}

// selfSubject is the controller's own identity as an RBAC subject, asked
// of the API server once (SelfSubjectReview).
type selfSubject struct {
	mu      sync.Mutex
	subject *rbacv1.Subject
}

func (s *selfSubject) get(ctx context.Context, c client.Client) (rbacv1.Subject, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.subject != nil {
		return *s.subject, nil
	}
	review := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, review); err != nil {
		return rbacv1.Subject{}, fmt.Errorf("ask the API server who the controller is: %w", err)
	}
	sub := subjectOf(review.Status.UserInfo.Username)
	s.subject = &sub
	logf.FromContext(ctx).Info("drill scratch namespaces are bound to the controller's identity", "kind", sub.Kind, "name", sub.Name, "namespace", sub.Namespace)
	return sub, nil
}

// subjectOf turns a user name into an RBAC subject: a ServiceAccount for
// "system:serviceaccount:<ns>:<name>", a User otherwise.
func subjectOf(user string) rbacv1.Subject {
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		if ns, name, ok := strings.Cut(rest, ":"); ok {
			return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}
		}
	}
	return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: user}
}
