package v1alpha1

import (
	"encoding/base64"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// OffsiteTargetSpec says where sealed backups go and who can open them.
type OffsiteTargetSpec struct {
	// S3 is the object store that holds the offsite copies.
	// +required
	S3 S3Location `json:"s3"`

	// Recipients are the age public keys (age1..., ssh-ed25519, ssh-rsa) every
	// backup is encrypted to. Include at least one offline break-glass key.
	// A secret key pasted here (AGE-SECRET-KEY-..., a private SSH key) is
	// refused at admission, so it is never stored, and never echoed back.
	// +required
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:MaxLength=16384
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.upperAscii().contains('AGE-SECRET-KEY-'))",message="spec.recipients holds an age secret key (AGE-SECRET-KEY-...): give its public key (age1..., as 'safekeep keygen' prints it or 'age-keygen -y' derives it) and keep the secret key off the cluster"
	// +kubebuilder:validation:XValidation:rule="self.all(r, !r.contains('PRIVATE KEY'))",message="spec.recipients holds a private key: give the public key (ssh-ed25519 ..., ssh-rsa ...) and keep the private key off the cluster"
	Recipients []string `json:"recipients"`

	// ObjectLock sets retention on every object Safekeep writes. When set, the
	// bucket must have object lock enabled.
	// +optional
	ObjectLock *ObjectLock `json:"objectLock,omitempty"`

	// SigningKeySecretRef names a Secret (key "signing.key", PKCS#8 PEM ed25519)
	// in the target's namespace that signs seals (and the controller's audit
	// entries when auditKeySecretRef is not set).
	// +required
	SigningKeySecretRef corev1.LocalObjectReference `json:"signingKeySecretRef"`

	// SigningPublicKey is the public half ("ed25519:<base64>", as `safekeep
	// keygen --signing` prints it) of the key in signingKeySecretRef. The
	// CLI trusts seals signed by it (and by previousSigningKeys) without
	// reading the Secret, so a target file needs it for verify and restore;
	// the controller refuses a Secret whose key does not match it. Seals
	// signed by any other key, such as one merely published in the bucket,
	// are never trusted.
	// +optional
	// +kubebuilder:validation:Pattern=`^ed25519:[A-Za-z0-9+/]{43}=$`
	SigningPublicKey string `json:"signingPublicKey,omitempty"`

	// PreviousSigningKeys are the public halves ("ed25519:<base64>", as
	// `safekeep keygen --signing` prints them) of keys this target signed
	// with before a rotation. Drills trust seals signed by the current key
	// or one of these, so a rotation does not fail every drill of older
	// backups; remove a key once no retained seal uses it.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:Pattern=`^ed25519:[A-Za-z0-9+/]{43}=$`
	PreviousSigningKeys []string `json:"previousSigningKeys,omitempty"`

	// AuditKeys are public keys ("ed25519:<base64>") trusted to sign audit
	// entries besides the signing key: the public half of the key in
	// auditKeySecretRef, restore keys that responders hold (`safekeep
	// restore --signing-key` signs a restore's entry with one, never with
	// the seal signing key), and such keys before a rotation. A holder of
	// one can append to the audit log but cannot sign a seal. Audit writers
	// never chain onto an entry signed by any other key.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^ed25519:[A-Za-z0-9+/]{43}=$`
	AuditKeys []string `json:"auditKeys,omitempty"`

	// AuditKeySecretRef names a Secret (key "audit.key", PKCS#8 PEM
	// ed25519, as `safekeep keygen --signing` writes) in the target's
	// namespace whose key signs the controller's audit entries, so that the
	// seal signing key signs seals only, and the CLI (which may read this
	// Secret to sign a restore's entry) never needs it. Its public half
	// must be in auditKeys: auditors pin the spec, not the Secret. To
	// rotate, add the new public key to auditKeys, put the new key in the
	// Secret, and keep the old public key in auditKeys while entries it
	// signed are kept. Without it the seal signing key signs audit entries
	// too, as targets made before the keys were separated did.
	// +optional
	// +kubebuilder:validation:XValidation:rule="has(self.name) && self.name != ''",message="auditKeySecretRef must name a Secret"
	AuditKeySecretRef *corev1.LocalObjectReference `json:"auditKeySecretRef,omitempty"`

	// Audit configures the audit log kept in the bucket under audit/.
	// +optional
	Audit *AuditLogSpec `json:"audit,omitempty"`

	// Policy limits what the BackupSchedules using this target may back
	// up (namespaces, hooks) and who may point one at it. Unset: any
	// namespace, no hooks, anyone RBAC lets.
	// +optional
	Policy *TargetPolicy `json:"policy,omitempty"`
}

// AuditLogSpec configures the evidence kept in the audit log.
type AuditLogSpec struct {
	// RetainDays is how long each audit entry is object-locked (in
	// spec.objectLock's mode), independent of the backups' retention.
	// Default 2190, six years (HIPAA 164.316(b)(2)). Without
	// spec.objectLock entries are not locked.
	// +optional
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:default=2190
	RetainDays int32 `json:"retainDays,omitempty"`
}

// AuditedTarget is the configuration of an OffsiteTarget as last recorded
// in its audit log: a change of any field is recorded again.
type AuditedTarget struct {
	Endpoint string `json:"endpoint"`
	Bucket   string `json:"bucket"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// +optional
	RecipientFingerprints []string `json:"recipientFingerprints,omitempty"`
	// +optional
	SigningKeyID string `json:"signingKeyId,omitempty"`
	// AuditKeyID is the id of the key that signs the controller's audit
	// entries, when it is not the signing key.
	// +optional
	AuditKeyID string `json:"auditKeyId,omitempty"`
	// ObjectLock is "<mode>/<days>", or empty without object lock.
	// +optional
	ObjectLock string `json:"objectLock,omitempty"`
	// +optional
	AuditRetainDays int32 `json:"auditRetainDays,omitempty"`
	// Entry is the sequence number of the audit entry that recorded it.
	// +optional
	Entry uint64 `json:"entry,omitempty"`
}

// AuditHead is an entry of an audit log, recorded outside the bucket.
type AuditHead struct {
	// Bucket and Prefix locate the log (spec.s3 when it was written): a
	// head of another place's log is no anchor for this one.
	Bucket string `json:"bucket"`
	// +optional
	Prefix string `json:"prefix,omitempty"`
	// Seq is the entry's sequence number.
	// +kubebuilder:validation:Minimum=1
	Seq uint64 `json:"seq"`
	// Hash is the entry's hash, "sha256:<64 hex>".
	Hash string `json:"hash"`
	// Time is the entry's time.
	// +optional
	Time metav1.Time `json:"time,omitempty"`
}

// S3Location is an S3-compatible bucket and prefix.
type S3Location struct {
	// Endpoint is the S3 URL, for example https://s3.us-east-1.amazonaws.com
	// or http://127.0.0.1:7070.
	// +required
	// +kubebuilder:validation:Pattern=`^https?://[^\s/]+(/.*)?$`
	Endpoint string `json:"endpoint"`

	// Bucket name.
	// +required
	// +kubebuilder:validation:MinLength=3
	// +kubebuilder:validation:MaxLength=63
	Bucket string `json:"bucket"`

	// Prefix inside the bucket; Safekeep writes under <prefix>/safekeep/v1/.
	// +optional
	Prefix string `json:"prefix,omitempty"`

	// Region of the bucket.
	// +optional
	// +kubebuilder:default=us-east-1
	Region string `json:"region,omitempty"`

	// CredentialsSecretRef names a Secret with keys AWS_ACCESS_KEY_ID and
	// AWS_SECRET_ACCESS_KEY (or "cloud", in AWS shared-credentials format).
	// +optional
	CredentialsSecretRef *corev1.LocalObjectReference `json:"credentialsSecretRef,omitempty"`

	// CABundle is the PEM (-----BEGIN CERTIFICATE-----...) of the CAs
	// trusted for the endpoint's TLS certificate, pasted as it is. Base64 of
	// the PEM, which earlier versions asked for, is read too.
	// +optional
	// +kubebuilder:validation:MaxLength=1048576
	CABundle string `json:"caBundle,omitempty"`

	// InsecureSkipTLSVerify turns off certificate checks. For tests only.
	// +optional
	InsecureSkipTLSVerify bool `json:"insecureSkipTLSVerify,omitempty"`

	// StorageClass for new objects (for example STANDARD_IA).
	// +optional
	StorageClass string `json:"storageClass,omitempty"`
}

// ObjectLockMode is an S3 object-lock retention mode.
// +kubebuilder:validation:Enum=Governance;Compliance
type ObjectLockMode string

const (
	ObjectLockGovernance ObjectLockMode = "Governance"
	ObjectLockCompliance ObjectLockMode = "Compliance"
)

// ObjectLock is the retention applied to each object written.
type ObjectLock struct {
	// Mode of retention. Compliance cannot be shortened by anyone.
	// +required
	Mode ObjectLockMode `json:"mode"`

	// RetainDays from the time of writing.
	// +required
	// +kubebuilder:validation:Minimum=1
	RetainDays int32 `json:"retainDays"`
}

// OffsiteTargetStatus is the observed state of an OffsiteTarget.
type OffsiteTargetStatus struct {
	// ObservedGeneration is the generation the conditions describe.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// RecipientFingerprints of the recipients in use.
	// +optional
	RecipientFingerprints []string `json:"recipientFingerprints,omitempty"`

	// Audited is the configuration last recorded in the audit log (an
	// entry of kind target-change), so that a restart does not record it
	// again.
	// +optional
	Audited *AuditedTarget `json:"audited,omitempty"`

	// AuditHead is the newest entry the controller wrote to the target's
	// audit log: an anchor kept where a writer to the bucket cannot write.
	// A log that no longer holds it (entries hidden behind delete markers
	// or deleted) fails `safekeep audit verify --target`.
	// +optional
	AuditHead *AuditHead `json:"auditHead,omitempty"`

	// Conditions: Ready, with a reason for each way the target can be wrong.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// OffsiteTarget is an S3 bucket that receives encrypted, object-locked copies
// of Velero backups.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:categories=safekeep,shortName=skt
// +kubebuilder:printcolumn:name="Endpoint",type=string,JSONPath=`.spec.s3.endpoint`
// +kubebuilder:printcolumn:name="Bucket",type=string,JSONPath=`.spec.s3.bucket`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Reason",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].reason`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type OffsiteTarget struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +required
	Spec OffsiteTargetSpec `json:"spec"`
	// +optional
	Status OffsiteTargetStatus `json:"status,omitempty"`
}

// OffsiteTargetList is a list of OffsiteTargets.
// +kubebuilder:object:root=true
type OffsiteTargetList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []OffsiteTarget `json:"items"`
}

func init() {
	SchemeBuilder.Register(addKnownTypes(&OffsiteTarget{}, &OffsiteTargetList{}))
}

// CAPEM returns the CA bundle as PEM bytes: as written when it is PEM, else
// base64-decoded (how earlier versions stored it). Text that is neither is
// returned as it is, for the PEM check to refuse.
func (s *S3Location) CAPEM() []byte {
	text := strings.TrimSpace(s.CABundle)
	if text == "" || strings.HasPrefix(text, "-----BEGIN") {
		return []byte(text)
	}
	dec, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil {
		return []byte(text)
	}
	return dec
}
