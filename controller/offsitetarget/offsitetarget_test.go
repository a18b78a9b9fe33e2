package offsitetarget_test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/controller"
	"github.com/safekeep-dev/safekeep/controller/internal/kit"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/target"
)

// targetBed is the world the OffsiteTarget tests share: a control plane, a
// manager, VersityGW with a plain and an object-locked bucket, and Secrets
// in the controller's namespace.
type targetBed struct {
	*managerEnv
	s3      *testbed.S3Server
	ns      string
	rcpt    string
	secrets []string // every secret value the controller holds: none may leak
}

const (
	secretCreds         = "s3-creds"      // the server's credentials, static keys
	secretCloud         = "s3-cloud"      // the same in shared-credentials format
	secretWrongCreds    = "s3-wrong"      // the right access key, a wrong secret key
	secretSigning       = "signing"       // a good signing key
	secretSigningBad    = "signing-bad"   // "signing.key" that is not a key
	secretNoKey         = "signing-nokey" // no "signing.key"
	targetRetryInterval = 500 * time.Millisecond
)

func startTargetBed(t *testing.T, s3opts ...testbed.S3Option) *targetBed {
	t.Helper()
	start := time.Now()
	b := &targetBed{ns: "safekeep-test"}
	b.s3 = testbed.StartS3(t, s3opts...)
	b.s3.CreateBucket(t, "plain", false)
	b.s3.CreateBucket(t, "locked", true)
	b.managerEnv = startManagerEnv(t, controller.Options{
		Namespace:           b.ns,
		TargetCheckInterval: 10 * time.Minute, // only events and failures make it look again
		TargetRetryInterval: targetRetryInterval,
		TargetProbeTimeout:  5 * time.Second,
	})
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	b.rcpt = id.Recipient().String()
	key, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	pem, err := key.MarshalPEM()
	if err != nil {
		t.Fatal(err)
	}
	wrong := "WRONG" + b.s3.SecretKey[5:]
	b.secrets = []string{b.s3.SecretKey, b.s3.AccessKey, wrong, string(pem[40:80])}
	cloud := fmt.Sprintf("[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n", b.s3.AccessKey, b.s3.SecretKey)
	for name, data := range map[string]map[string]string{
		secretCreds:      {target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: b.s3.SecretKey},
		secretCloud:      {target.KeyCloud: cloud},
		secretWrongCreds: {target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: wrong},
		secretSigning:    {target.KeySigningKey: string(pem)},
		secretSigningBad: {target.KeySigningKey: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"},
		secretNoKey:      {"other": "x"},
	} {
		b.createSecret(t, name, data)
	}
	t.Logf("test bed up in %s", time.Since(start).Round(time.Millisecond))
	return b
}

func (b *targetBed) createSecret(t *testing.T, name string, data map[string]string) {
	t.Helper()
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name}, StringData: data}
	if err := b.c.Create(t.Context(), sec); err != nil {
		t.Fatal(err)
	}
}

// newTarget returns a target in the controller's namespace for bucket plain
// on the server, with good Secrets, changed by edit.
func (b *targetBed) newTarget(name string, edit func(*v1alpha1.OffsiteTarget)) *v1alpha1.OffsiteTarget {
	o := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: b.ns, Name: name},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3: v1alpha1.S3Location{
				Endpoint:             b.s3.Endpoint,
				Bucket:               "plain",
				Prefix:               name,
				CredentialsSecretRef: &corev1.LocalObjectReference{Name: secretCreds},
			},
			Recipients:          []string{b.rcpt},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: secretSigning},
		},
	}
	if edit != nil {
		edit(o)
	}
	return o
}

func (b *targetBed) create(t *testing.T, o *v1alpha1.OffsiteTarget) client.ObjectKey {
	t.Helper()
	if err := b.c.Create(t.Context(), o); err != nil {
		t.Fatalf("create OffsiteTarget %s: %v", o.Name, err)
	}
	return client.ObjectKeyFromObject(o)
}

// checkNoSecret fails when text holds a credential or key of the bed.
func (b *targetBed) checkNoSecret(t *testing.T, what, text string) {
	t.Helper()
	for _, s := range b.secrets {
		if strings.Contains(text, s) {
			t.Errorf("%s holds a secret: %q", what, text)
		}
	}
	if strings.Contains(text, "AGE-SECRET-KEY") || strings.Contains(text, "PRIVATE KEY") {
		t.Errorf("%s holds a secret key: %q", what, text)
	}
}

func TestOffsiteTarget(t *testing.T) {
	b := startTargetBed(t)
	closedPort := "http://127.0.0.1:" + strconv.Itoa(testbed.FreePort(t))
	lock := &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockCompliance, RetainDays: 3}
	createTargetNamespace(t, b.c, "elsewhere")

	tests := []struct {
		name   string
		edit   func(*v1alpha1.OffsiteTarget)
		reason string
		says   string
	}{
		{"good", nil, v1alpha1.ReasonVerified, "bucket plain at " + b.s3.Endpoint + " is reachable"},
		{"good with object lock and cloud credentials", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.S3.Bucket, o.Spec.ObjectLock = "locked", lock
			o.Spec.S3.CredentialsSecretRef.Name = secretCloud
		}, v1alpha1.ReasonVerified, "object lock is enabled (Compliance, 3 days)"},
		{"endpoint unreachable", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Endpoint = closedPort },
			v1alpha1.ReasonUnreachable, "connection refused"},
		{"bucket missing", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Bucket = "nothere" },
			v1alpha1.ReasonBucketMissing, "bucket nothere does not exist"},
		{"credentials Secret missing", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CredentialsSecretRef.Name = "nope" },
			v1alpha1.ReasonCredentialsMissing, "Secret safekeep-test/nope (spec.s3.credentialsSecretRef) not found"},
		{"no credentials Secret", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CredentialsSecretRef = nil },
			v1alpha1.ReasonCredentialsMissing, "spec.s3.credentialsSecretRef is not set"},
		{"credentials rejected", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CredentialsSecretRef.Name = secretWrongCreds },
			v1alpha1.ReasonCredentialsRejected, "rejected the credentials from Secret safekeep-test/s3-wrong"},
		{"object lock off", func(o *v1alpha1.OffsiteTarget) { o.Spec.ObjectLock = lock },
			v1alpha1.ReasonObjectLockOff, "bucket plain at " + b.s3.Endpoint + " does not have object lock enabled"},
		{"recipient does not parse", func(o *v1alpha1.OffsiteTarget) { o.Spec.Recipients = append(o.Spec.Recipients, "age1bogus") },
			v1alpha1.ReasonRecipientInvalid, "spec.recipients[1]"},
		// An age secret key is refused at admission (api/v1alpha1 tests); a
		// plugin identity gets past the schema and is refused here.
		{"identity given as recipient", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.Recipients = []string{"AGE-PLUGIN-YUBIKEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQS6KH4W4"}
		}, v1alpha1.ReasonRecipientInvalid, "secret key, not a public one"},
		{"signing key Secret missing", func(o *v1alpha1.OffsiteTarget) { o.Spec.SigningKeySecretRef.Name = "nope" },
			v1alpha1.ReasonSigningKeyMissing, "Secret safekeep-test/nope (spec.signingKeySecretRef) not found"},
		{"signing key missing from its Secret", func(o *v1alpha1.OffsiteTarget) { o.Spec.SigningKeySecretRef.Name = secretNoKey },
			v1alpha1.ReasonSigningKeyMissing, `has no key "signing.key"`},
		{"signing key invalid", func(o *v1alpha1.OffsiteTarget) { o.Spec.SigningKeySecretRef.Name = secretSigningBad },
			v1alpha1.ReasonSigningKeyInvalid, "want a PKCS#8 PEM ed25519 key"},
		{"CA bundle invalid", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CABundle = "not a certificate" },
			v1alpha1.ReasonCABundleInvalid, "spec.s3.caBundle holds no PEM certificate"},
		{"another namespace", func(o *v1alpha1.OffsiteTarget) { o.Namespace = "elsewhere" },
			v1alpha1.ReasonCredentialsMissing, "reads Secrets only in its namespace safekeep-test"},
		{"one day, one recipient", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.S3.Bucket, o.Spec.ObjectLock = "locked", &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 1}
		}, v1alpha1.ReasonVerified, "object lock is enabled (Governance, 1 day); 1 recipient;"},
	}
	t.Run("inputs", func(t *testing.T) {
		for i, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				t.Parallel()
				key := b.create(t, b.newTarget(fmt.Sprintf("t%d", i), tt.edit))
				obj := b.waitReady(t, key, tt.reason)
				b.checkVerdict(t, obj, tt.reason, tt.says)
			})
		}
	})

	t.Run("recovers", func(t *testing.T) {
		t.Run("credentials Secret created later", func(t *testing.T) {
			t.Parallel()
			key := b.create(t, b.newTarget("later", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CredentialsSecretRef.Name = "later-creds" }))
			b.waitReady(t, key, v1alpha1.ReasonCredentialsMissing)
			b.createSecret(t, "later-creds", map[string]string{target.KeyAccessKeyID: b.s3.AccessKey, target.KeySecretAccessKey: b.s3.SecretKey})
			// The check interval is 10 minutes: only the Secret watch can do it.
			obj := b.waitReady(t, key, v1alpha1.ReasonVerified)
			b.waitEvent(t, key, v1alpha1.ReasonVerified)
			b.checkVerdict(t, obj, v1alpha1.ReasonVerified, "is reachable")
		})
		t.Run("spec fixed", func(t *testing.T) {
			t.Parallel()
			key := b.create(t, b.newTarget("fixed", func(o *v1alpha1.OffsiteTarget) { o.Spec.Recipients = []string{"age1bogus"} }))
			obj := b.waitReady(t, key, v1alpha1.ReasonRecipientInvalid)
			if len(obj.Status.RecipientFingerprints) != 0 {
				t.Errorf("fingerprints %v of recipients that do not parse", obj.Status.RecipientFingerprints)
			}
			obj.Spec.Recipients = []string{b.rcpt}
			if err := b.c.Update(t.Context(), obj); err != nil {
				t.Fatal(err)
			}
			b.waitReady(t, key, v1alpha1.ReasonVerified)
		})
		t.Run("server errors for a while", func(t *testing.T) {
			t.Parallel()
			// Two tries per probe: three failed probes, then it passes.
			proxy := testbed.StartFlakyProxy(t, b.s3.Endpoint, 6)
			key := b.create(t, b.newTarget("flaky", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Endpoint = proxy.Endpoint }))
			obj := b.waitReady(t, key, v1alpha1.ReasonServerError)
			b.checkVerdict(t, obj, v1alpha1.ReasonServerError, "answered HTTP 500")
			start := time.Now()
			obj = b.waitReady(t, key, v1alpha1.ReasonVerified)
			t.Logf("Ready %s after the first ServerError; proxy saw %d requests", time.Since(start).Round(time.Millisecond), proxy.Requests())
			b.waitEvent(t, key, v1alpha1.ReasonVerified)
			if c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady); c.Status != metav1.ConditionTrue {
				t.Errorf("Ready = %s after recovery", c.Status)
			}
		})
	})

	t.Run("no retry storm", func(t *testing.T) {
		checks := func(name string) float64 {
			total := 0.0
			for _, r := range []string{v1alpha1.ReasonRecipientInvalid, v1alpha1.ReasonUnreachable} {
				v, _ := gatherMetric(t, "safekeep_offsite_target_checks_total", map[string]string{"namespace": b.ns, "name": name, "reason": r})
				total += v
			}
			return total
		}
		terminal, remote := fmt.Sprintf("t%d", 8), fmt.Sprintf("t%d", 2) // recipient invalid, unreachable
		t0, r0 := checks(terminal), checks(remote)
		const watch = 3 * time.Second
		time.Sleep(watch)
		t1, r1 := checks(terminal), checks(remote)
		t.Logf("over %s: %v checks of a bad spec, %v of an unreachable endpoint (retry interval %s)", watch, t1-t0, r1-r0, targetRetryInterval)
		if t1 != t0 {
			t.Errorf("a target with a bad recipient was checked %v more times; want no requeue", t1-t0)
		}
		if maxChecks := float64(watch/targetRetryInterval) + 1; r1-r0 < 1 || r1-r0 > maxChecks {
			t.Errorf("an unreachable target was checked %v times in %s; want between 1 and %v", r1-r0, watch, maxChecks)
		}
	})

	t.Run("deleted target leaves no metric", func(t *testing.T) {
		obj := &v1alpha1.OffsiteTarget{}
		key := client.ObjectKey{Namespace: b.ns, Name: "t0"}
		if err := b.c.Get(t.Context(), key, obj); err != nil {
			t.Fatal(err)
		}
		// A schedule's retention pass counted hidden objects of t0.
		kit.HiddenObjects.WithLabelValues(b.ns, "t0").Set(2)
		if err := b.c.Delete(t.Context(), obj); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(targetWaitTimeout)
		for {
			_, ready := gatherMetric(t, "safekeep_offsite_target_ready", map[string]string{"namespace": b.ns, "name": "t0"})
			_, hidden := gatherMetric(t, "safekeep_offsite_hidden_objects", map[string]string{"namespace": b.ns, "target": "t0"})
			if !ready && !hidden {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("a deleted target's series are still exported: safekeep_offsite_target_ready %v, safekeep_offsite_hidden_objects %v", ready, hidden)
			}
			time.Sleep(targetPollInterval)
		}
	})
}

// checkVerdict checks what a settled target shows: the message, the
// fingerprints, the transition time, an Event, the metric, and no secret
// anywhere.
func (b *targetBed) checkVerdict(t *testing.T, obj *v1alpha1.OffsiteTarget, reason, says string) {
	t.Helper()
	key := client.ObjectKeyFromObject(obj)
	c := meta.FindStatusCondition(obj.Status.Conditions, v1alpha1.ConditionReady)
	t.Logf("%s: Ready=%s %s: %s", key, c.Status, c.Reason, c.Message)
	if !strings.Contains(c.Message, says) {
		t.Errorf("message %q does not say %q", c.Message, says)
	}
	b.checkNoSecret(t, "Ready message", c.Message)
	wantStatus := metav1.ConditionFalse
	if reason == v1alpha1.ReasonVerified {
		wantStatus = metav1.ConditionTrue
	}
	if c.Status != wantStatus {
		t.Errorf("Ready = %s, want %s", c.Status, wantStatus)
	}
	if !c.LastTransitionTime.Time.Equal(b.clock.Now()) {
		t.Errorf("lastTransitionTime %s, want the injected clock's %s", c.LastTransitionTime.UTC(), b.clock.Now())
	}
	if reason != v1alpha1.ReasonRecipientInvalid {
		rcpt, err := crypto.ParseRecipient(b.rcpt)
		if err != nil {
			t.Fatal(err)
		}
		if fp := obj.Status.RecipientFingerprints; len(fp) != 1 || fp[0] != rcpt.Fingerprint() {
			t.Errorf("recipientFingerprints = %v, want [%s]", fp, rcpt.Fingerprint())
		}
	}
	ev := b.waitEvent(t, key, reason)
	b.checkNoSecret(t, "Event note", ev.Note)
	wantType := corev1.EventTypeWarning
	if wantStatus == metav1.ConditionTrue {
		wantType = corev1.EventTypeNormal
	}
	if ev.Type != wantType || ev.Note != c.Message || ev.ReportingController != controller.EventSource {
		t.Errorf("Event %s %s by %s: %q; want %s with the condition's message", ev.Type, ev.Reason, ev.ReportingController, ev.Note, wantType)
	}
	want := 0.0
	if wantStatus == metav1.ConditionTrue {
		want = 1
	}
	if v, ok := gatherMetric(t, "safekeep_offsite_target_ready", map[string]string{"namespace": key.Namespace, "name": key.Name}); !ok || v != want {
		t.Errorf("safekeep_offsite_target_ready = %v (exported %v), want %v", v, ok, want)
	}
}
