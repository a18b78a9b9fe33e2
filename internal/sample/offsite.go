package sample

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
)

// Offsite describes an OffsiteTarget and the Secrets it needs.
type Offsite struct {
	Namespace, Name      string // of the OffsiteTarget; the Secrets live beside it
	Endpoint, Bucket     string
	Prefix               string
	AccessKey, SecretKey string
	Recipients           []string
	SigningKeyPEM        []byte
	ObjectLock           *v1alpha1.ObjectLock // nil: no lock
}

// publicHalf is spec.signingPublicKey for a signing key PEM: its public
// half, or empty when the PEM is not a key (tests of bad Secrets).
func publicHalf(pem []byte) string {
	k, err := crypto.ParseSigningKey(pem)
	if err != nil {
		return ""
	}
	return k.Public().String()
}

// Secret names the objects use.
const (
	CredentialsSecret = "offsite-credentials"
	SigningSecret     = "safekeep-signing"
)

// Objects returns the namespace, the credentials and signing-key Secrets,
// and the OffsiteTarget, ready to create in this order.
func (o Offsite) Objects() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: o.Namespace}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: CredentialsSecret, Namespace: o.Namespace},
			Data:       map[string][]byte{"AWS_ACCESS_KEY_ID": []byte(o.AccessKey), "AWS_SECRET_ACCESS_KEY": []byte(o.SecretKey)},
		},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: SigningSecret, Namespace: o.Namespace},
			Data:       map[string][]byte{"signing.key": o.SigningKeyPEM},
		},
		&v1alpha1.OffsiteTarget{
			ObjectMeta: metav1.ObjectMeta{Name: o.Name, Namespace: o.Namespace},
			Spec: v1alpha1.OffsiteTargetSpec{
				S3: v1alpha1.S3Location{
					Endpoint: o.Endpoint, Bucket: o.Bucket, Prefix: o.Prefix, Region: "us-east-1",
					CredentialsSecretRef: &corev1.LocalObjectReference{Name: CredentialsSecret},
				},
				Recipients:          o.Recipients,
				ObjectLock:          o.ObjectLock,
				SigningKeySecretRef: corev1.LocalObjectReference{Name: SigningSecret},
				SigningPublicKey:    publicHalf(o.SigningKeyPEM),
			},
		},
	}
}
