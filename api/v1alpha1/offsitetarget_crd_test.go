package v1alpha1_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/safekeep-dev/safekeep/api/v1alpha1"
)

const (
	recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p"
	// secretKey is age's documented example identity (of recipient).
	secretKey = "AGE-SECRET-KEY-1GFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPYYSJZGFPQ4EGAEX"
	caPEM     = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`
)

func validTarget(name string) *v1.OffsiteTarget {
	return &v1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: v1.OffsiteTargetSpec{
			S3:                  v1.S3Location{Endpoint: "https://s3.example", Bucket: "offsite"},
			Recipients:          []string{recipient},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "safekeep-signing"},
		},
	}
}

func TestOffsiteTargetCRD(t *testing.T) {
	cp := startAPI(t)
	c := cp.Client
	ctx := t.Context()

	t.Run("caBundle takes PEM as pasted", func(t *testing.T) {
		o := validTarget("pem")
		o.Spec.S3.CABundle = caPEM
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("create with a PEM caBundle: %v", err)
		}
		var got v1.OffsiteTarget
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.S3.CABundle != caPEM || string(got.Spec.S3.CAPEM()) != strings.TrimSpace(caPEM) {
			t.Errorf("caBundle read back as %q", got.Spec.S3.CABundle)
		}
	})

	for i, tc := range []struct {
		name, want string
		set        func(*v1.OffsiteTargetSpec)
	}{
		{"an empty policy user", "spec.policy.users[0]", func(s *v1.OffsiteTargetSpec) { s.Policy = &v1.TargetPolicy{Users: []string{""}} }},
		{"an empty policy group", "spec.policy.groups[0]", func(s *v1.OffsiteTargetSpec) { s.Policy = &v1.TargetPolicy{Groups: []string{""}} }},
		{"an audit key Secret with no name", "auditKeySecretRef must name a Secret", func(s *v1.OffsiteTargetSpec) { s.AuditKeySecretRef = &corev1.LocalObjectReference{} }},
	} {
		t.Run("refuses "+tc.name, func(t *testing.T) {
			o := validTarget("empty-" + string(rune('a'+i)))
			tc.set(&o.Spec)
			err := c.Create(ctx, o)
			if err == nil {
				t.Fatalf("created a target with %s", tc.name)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}

	for i, tc := range []struct{ name, value, want string }{
		{"age secret key", secretKey, "holds an age secret key (AGE-SECRET-KEY-...)"},
		{"age secret key, lower case", strings.ToLower(secretKey), "holds an age secret key"},
		{"age secret key with a comment", "# drill\n" + secretKey, "holds an age secret key"},
		{"SSH private key", "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----", "holds a private key"},
	} {
		t.Run("recipients refuse "+tc.name, func(t *testing.T) {
			o := validTarget("secret-" + string(rune('a'+i)))
			o.Spec.Recipients = []string{recipient, tc.value}
			err := c.Create(ctx, o)
			if err == nil {
				t.Fatal("created a target with a secret key as a recipient")
			}
			msg := err.Error()
			t.Logf("refused: %s", msg)
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error does not say %q", tc.want)
			}
			if strings.Contains(strings.ToUpper(msg), "GFPYYSJZ") || strings.Contains(msg, "b3BlbnNzaC1rZXkt") {
				t.Error("the error echoes the secret key")
			}
		})
	}
}
