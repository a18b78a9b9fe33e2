package target

import (
	"strings"
	"testing"

	"filippo.io/age"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/storage"
)

func TestValidate(t *testing.T) {
	secretKey := "AGE-SECRET-KEY-1QYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQSZQGPQYQS6KH4W4"
	tests := []struct {
		name   string
		edit   func(o *v1alpha1.OffsiteTarget)
		reason string
		says   string
	}{
		{"good", func(*v1alpha1.OffsiteTarget) {}, "", ""},
		{"ssh recipient", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.Recipients = append(o.Spec.Recipients, "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice")
		}, "", ""},
		{"no recipients", func(o *v1alpha1.OffsiteTarget) { o.Spec.Recipients = nil }, v1alpha1.ReasonRecipientInvalid, "spec.recipients is empty"},
		{"bad recipient", func(o *v1alpha1.OffsiteTarget) { o.Spec.Recipients = append(o.Spec.Recipients, "age1notakey") },
			v1alpha1.ReasonRecipientInvalid, "spec.recipients[1]"},
		{"secret key as recipient", func(o *v1alpha1.OffsiteTarget) { o.Spec.Recipients = []string{secretKey} },
			v1alpha1.ReasonRecipientInvalid, "spec.recipients[0]: "},
		{"mixed post-quantum", func(o *v1alpha1.OffsiteTarget) {
			id, err := age.GenerateHybridIdentity()
			if err != nil {
				t.Fatal(err)
			}
			o.Spec.Recipients = append(o.Spec.Recipients, id.Recipient().String())
		}, v1alpha1.ReasonRecipientInvalid, "cannot be mixed"},
		{"CA bundle without a certificate", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.CABundle = "not a pem" },
			v1alpha1.ReasonCABundleInvalid, "spec.s3.caBundle"},
		{"endpoint with a path", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Endpoint = "http://127.0.0.1:9000/bucket" },
			v1alpha1.ReasonInvalidSpec, "spec.s3.endpoint"},
		{"bucket name S3 refuses", func(o *v1alpha1.OffsiteTarget) { o.Spec.S3.Bucket = "Off_Site" },
			v1alpha1.ReasonInvalidSpec, "spec.s3.bucket"},
		{"lock mode", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: "Legal", RetainDays: 1}
		}, v1alpha1.ReasonInvalidSpec, "spec.objectLock.mode"},
		{"previous signing key", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.PreviousSigningKeys = []string{"ed25519:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE="}
		}, "", ""},
		{"bad previous signing key", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.PreviousSigningKeys = []string{"ed25519:Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=", "rsa:abc"}
		}, v1alpha1.ReasonInvalidSpec, "spec.previousSigningKeys[1]"},
		{"lock days", func(o *v1alpha1.OffsiteTarget) {
			o.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockCompliance}
		}, v1alpha1.ReasonInvalidSpec, "spec.objectLock.retainDays"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := object(t, "http://127.0.0.1:9000", "offsite", false)
			tt.edit(o)
			rcpts, err := Validate(o)
			checkErr(t, err, tt.reason, tt.says, storage.Credentials{})
			if err == nil {
				if len(rcpts) != len(o.Spec.Recipients) {
					t.Fatalf("%d recipients parsed, want %d", len(rcpts), len(o.Spec.Recipients))
				}
				return
			}
			if !IsTerminal(err) {
				t.Errorf("IsTerminal(%v) = false, want true for a spec error", err)
			}
			if strings.Contains(err.Error(), "AGE-SECRET-KEY") {
				t.Errorf("message echoes a secret key: %v", err)
			}
		})
	}
}

func TestCredentialsFromSecret(t *testing.T) {
	const cloud = "# velero's format\n[default]\naws_access_key_id = AKCLOUD\naws_secret_access_key=SKCLOUD\n\n[other]\naws_access_key_id = AKOTHER\naws_secret_access_key = SKOTHER\n"
	tests := []struct {
		name   string
		data   map[string]string
		want   storage.Credentials
		reason string
		says   string
	}{
		{"static keys", map[string]string{KeyAccessKeyID: "AK1", KeySecretAccessKey: "SK1\n"},
			storage.Credentials{AccessKeyID: "AK1", SecretAccessKey: "SK1"}, "", ""},
		{"static keys and token", map[string]string{KeyAccessKeyID: "AK1", KeySecretAccessKey: "SK1", KeySessionToken: "TOK"},
			storage.Credentials{AccessKeyID: "AK1", SecretAccessKey: "SK1", SessionToken: "TOK"}, "", ""},
		{"cloud", map[string]string{KeyCloud: cloud}, storage.Credentials{AccessKeyID: "AKCLOUD", SecretAccessKey: "SKCLOUD"}, "", ""},
		{"static keys win over cloud", map[string]string{KeyCloud: cloud, KeyAccessKeyID: "AK1", KeySecretAccessKey: "SK1"},
			storage.Credentials{AccessKeyID: "AK1", SecretAccessKey: "SK1"}, "", ""},
		{"empty Secret", map[string]string{}, storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "has neither keys AWS_ACCESS_KEY_ID"},
		{"secret key missing", map[string]string{KeyAccessKeyID: "AK1"}, storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "key AWS_SECRET_ACCESS_KEY is missing"},
		{"access key empty", map[string]string{KeyAccessKeyID: " ", KeySecretAccessKey: "SK1"}, storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "key AWS_ACCESS_KEY_ID is empty"},
		{"cloud without default", map[string]string{KeyCloud: "[other]\naws_access_key_id = AKSECRETISH\naws_secret_access_key = SKSECRETISH\n"},
			storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "no [default] profile"},
		{"cloud default without secret", map[string]string{KeyCloud: "[default]\naws_access_key_id = AKSECRETISH\n"},
			storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "has no aws_access_key_id and aws_secret_access_key"},
		{"cloud garbage", map[string]string{KeyCloud: "[default]\nSKSECRETISH\n"},
			storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "line 2 is neither"},
		{"cloud bad header", map[string]string{KeyCloud: "[default\n"},
			storage.Credentials{}, v1alpha1.ReasonCredentialsMissing, "line 1: malformed section header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "creds"}, Data: map[string][]byte{}}
			for k, v := range tt.data {
				sec.Data[k] = []byte(v)
			}
			got, err := credentialsFromSecret(sec)
			checkErr(t, err, tt.reason, tt.says, storage.Credentials{})
			if err != nil {
				for _, s := range []string{"SKSECRETISH", "AKSECRETISH", "SK1"} {
					if strings.Contains(err.Error(), s) {
						t.Errorf("message %q quotes the Secret", err)
					}
				}
				if !strings.Contains(err.Error(), "Secret ns/creds") {
					t.Errorf("message %q does not name the Secret", err)
				}
				return
			}
			if got != tt.want {
				t.Errorf("credentials differ from the Secret's") // never print them
			}
		})
	}
}

// TestResolvedTarget: what Resolve builds holds the object lock as sealing
// takes it, seals only with a signing key, and never prints its
// credentials.
func TestResolvedTarget(t *testing.T) {
	o := object(t, "http://127.0.0.1:7070", "offsite", true)
	o.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockCompliance, RetainDays: 30}
	tg := resolved(t, o, storage.Credentials{AccessKeyID: "envkey", SecretAccessKey: "envsecret"})
	if tg.Config.Prefix != "cluster-a/safekeep/v1" || tg.Config.Credentials.AccessKeyID != "envkey" || tg.HasSigner ||
		tg.Lock == nil || tg.Lock.Mode != storage.LockCompliance || tg.Lock.RetainDays != 30 || len(tg.Recipients) != 1 {
		t.Fatalf("resolved %s: prefix %q, lock %+v, signer %v", tg, tg.Config.Prefix, tg.Lock, tg.HasSigner)
	}
	if _, err := tg.Sealer(tg.Store); err == nil {
		t.Error("Sealer without a signing key succeeded")
	}
	if _, err := tg.AuditLog(); err == nil {
		t.Error("AuditLog without a signing key succeeded")
	}
	if s := tg.String(); strings.Contains(s, "envsecret") || !strings.Contains(s, "offsite") {
		t.Errorf("String() = %q", s)
	}
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		t.Fatal(err)
	}
	tg.Signer, tg.HasSigner = k, true
	s, err := tg.Sealer(tg.Store)
	if err != nil || s.Lock == nil || s.Offsite == nil || len(s.Recipients) != 1 {
		t.Fatalf("Sealer = %+v, %v", s, err)
	}
	if s.Signer.Public().KeyID() != k.Public().KeyID() {
		t.Error("sealer signs with another key")
	}
}

func FuzzParseSharedCredentials(f *testing.F) {
	f.Add([]byte("[default]\naws_access_key_id = A\naws_secret_access_key = B\n"), "default")
	f.Add([]byte("[profile x]\n; c\n# d\naws_session_token=T\n"), "x")
	f.Add([]byte("[\n=\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, profile string) {
		c, err := storage.ParseSharedCredentials(data, profile)
		if err != nil {
			// Errors name lines by number, never their text.
			for line := range strings.Lines(string(data)) {
				l := strings.TrimSpace(line)
				if strings.HasPrefix(l, "[") { // a section header names a profile, not a secret
					continue
				}
				if len(l) >= 8 && strings.Contains(err.Error(), l) {
					t.Fatalf("error %q quotes the input", err)
				}
			}
			return
		}
		if c.AccessKeyID == "" || c.SecretAccessKey == "" {
			t.Fatal("success without both keys")
		}
	})
}
