package target

import (
	"context"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/safekeep-dev/safekeep/api/v1alpha1"
	"github.com/safekeep-dev/safekeep/crypto"
	"github.com/safekeep-dev/safekeep/internal/testbed"
	"github.com/safekeep-dev/safekeep/storage"
)

// newRecipient returns a fresh age public key.
func newRecipient(t testing.TB) string {
	t.Helper()
	id, err := crypto.GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String()
}

// object returns an OffsiteTarget for endpoint and bucket.
func object(t testing.TB, endpoint, bucket string, lock bool) *v1alpha1.OffsiteTarget {
	t.Helper()
	o := &v1alpha1.OffsiteTarget{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "offsite"},
		Spec: v1alpha1.OffsiteTargetSpec{
			S3: v1alpha1.S3Location{
				Endpoint:             endpoint,
				Bucket:               bucket,
				Prefix:               "cluster-a",
				CredentialsSecretRef: &corev1.LocalObjectReference{Name: "offsite-credentials"},
			},
			Recipients:          []string{newRecipient(t)},
			SigningKeySecretRef: corev1.LocalObjectReference{Name: "signing"},
		},
	}
	if lock {
		o.Spec.ObjectLock = &v1alpha1.ObjectLock{Mode: v1alpha1.ObjectLockGovernance, RetainDays: 7}
	}
	return o
}

// resolved builds a Target for o signed with creds, as Resolve would.
func resolved(t testing.TB, o *v1alpha1.OffsiteTarget, creds storage.Credentials) *Target {
	t.Helper()
	rcpts, err := Validate(o)
	if err != nil {
		t.Fatal(err)
	}
	res, err := build(o, rcpts, creds)
	if err != nil {
		t.Fatal(err)
	}
	res.credsFrom = "Secret ns/offsite-credentials"
	return res
}

func TestCheck(t *testing.T) {
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "plain", false)
	s3.CreateBucket(t, "locked", true)
	good := storage.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	closed := "http://127.0.0.1:" + strconv.Itoa(testbed.FreePort(t))
	httpsToHTTP := strings.Replace(s3.Endpoint, "http://", "https://", 1)

	tests := []struct {
		name     string
		endpoint string
		bucket   string
		lock     bool
		creds    storage.Credentials
		reason   string // "" for success
		says     string // the message must contain it
	}{
		{"plain bucket", s3.Endpoint, "plain", false, good, "", ""},
		{"locked bucket with lock", s3.Endpoint, "locked", true, good, "", ""},
		{"locked bucket without lock", s3.Endpoint, "locked", false, good, "", ""},
		{"endpoint unreachable", closed, "plain", false, good, v1alpha1.ReasonUnreachable, "connection refused"},
		{"https to an http server", httpsToHTTP, "plain", false, good, v1alpha1.ReasonUnreachable, "speaks plain HTTP"},
		{"bucket missing", s3.Endpoint, "nothere", false, good, v1alpha1.ReasonBucketMissing, "bucket nothere does not exist"},
		{"bucket missing, lock asked", s3.Endpoint, "nothere", true, good, v1alpha1.ReasonBucketMissing, "with object lock enabled"},
		{"wrong secret key", s3.Endpoint, "plain", false,
			storage.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: "WRONGSECRETKEY0123456789"}, v1alpha1.ReasonCredentialsRejected, "Secret ns/offsite-credentials"},
		{"unknown access key", s3.Endpoint, "plain", false,
			storage.Credentials{AccessKeyID: "NOSUCHACCESSKEY", SecretAccessKey: s3.SecretKey}, v1alpha1.ReasonCredentialsRejected, "rejected the credentials"},
		{"object lock off", s3.Endpoint, "plain", true, good, v1alpha1.ReasonObjectLockOff, "does not have object lock enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tg := resolved(t, object(t, tt.endpoint, tt.bucket, tt.lock), tt.creds)
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
			defer cancel()
			start := time.Now()
			err := tg.Check(ctx)
			t.Logf("%s: %v (%s)", tt.name, err, time.Since(start).Round(time.Millisecond))
			checkErr(t, err, tt.reason, tt.says, tt.creds)
			if err != nil && tgKind(err) != KindRemote {
				t.Errorf("kind = %v, want KindRemote", tgKind(err))
			}
		})
	}
}

func TestCheckServerErrors(t *testing.T) {
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "plain", false)
	creds := storage.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	const failures = 4
	proxy := testbed.StartFlakyProxy(t, s3.Endpoint, failures)
	tg := resolved(t, object(t, proxy.Endpoint, "plain", false), creds)

	var reasons []string
	for i := 0; i < 5 && (len(reasons) == 0 || reasons[len(reasons)-1] != ""); i++ {
		err := tg.Check(t.Context())
		reasons = append(reasons, ReasonOf(err))
		if err != nil {
			checkErr(t, err, v1alpha1.ReasonServerError, "answered HTTP 500", creds)
		}
	}
	// Two tries per check: two failing checks, then success.
	want := []string{v1alpha1.ReasonServerError, v1alpha1.ReasonServerError, ""}
	if strings.Join(reasons, ",") != strings.Join(want, ",") {
		t.Fatalf("reasons of successive checks = %q, want %q", reasons, want)
	}
}

func TestCheckTimeout(t *testing.T) {
	// A listener that accepts and never answers.
	l := silentListener(t)
	tg := resolved(t, object(t, "http://"+l, "plain", false), storage.Credentials{AccessKeyID: "AK", SecretAccessKey: "SECRETKEY"})
	ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer cancel()
	err := tg.Check(ctx)
	checkErr(t, err, v1alpha1.ReasonUnreachable, "did not answer in time", tg.Config.Credentials)

	// A canceled context is not a verdict on the target.
	ctx, cancel = context.WithCancel(t.Context())
	cancel()
	err = tg.Check(ctx)
	if !errors.Is(err, context.Canceled) || ReasonOf(err) != "" {
		t.Fatalf("Check with a canceled context = %v, want context.Canceled and no reason", err)
	}
}

// silentListener accepts connections on loopback and never answers; it
// returns its address.
func silentListener(t *testing.T) string {
	t.Helper()
	var lc net.ListenConfig
	l, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		_ = l.Close() // ends the accept loop; nothing to flush
		<-done
		for _, c := range conns {
			_ = c.Close() // never written to
		}
	})
	return l.Addr().String()
}

// checkErr wants err to be nil (reason "") or an *Error with reason whose
// message contains says and no credential.
func checkErr(t *testing.T, err error, reason, says string, creds storage.Credentials) {
	t.Helper()
	if reason == "" {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v (%T), want an *Error with reason %s", err, err, reason)
	}
	if te.Reason != reason {
		t.Errorf("reason = %s, want %s (message %q)", te.Reason, reason, te.Message)
	}
	if !strings.Contains(te.Message, says) {
		t.Errorf("message %q does not say %q", te.Message, says)
	}
	if strings.Contains(te.Message, "\n") {
		t.Errorf("message %q spans lines", te.Message)
	}
	for _, secret := range []string{creds.AccessKeyID, creds.SecretAccessKey} {
		if secret != "" && strings.Contains(te.Message, secret) {
			t.Errorf("message %q holds a credential", te.Message)
		}
	}
}

func tgKind(err error) Kind {
	var te *Error
	if errors.As(err, &te) {
		return te.Kind()
	}
	return 0
}

func TestCheckTLS(t *testing.T) {
	s3 := testbed.StartS3(t)
	s3.CreateBucket(t, "plain", false)
	creds := storage.Credentials{AccessKeyID: s3.AccessKey, SecretAccessKey: s3.SecretKey}
	up, err := url.Parse(s3.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewTLSServer(httputil.NewSingleHostReverseProxy(up))
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})

	o := object(t, srv.URL, "plain", false)
	err = resolved(t, o, creds).Check(t.Context())
	checkErr(t, err, v1alpha1.ReasonUnreachable, "not signed by a trusted CA: set spec.s3.caBundle", creds)
	t.Log(err)

	o.Spec.S3.CABundle = string(ca)
	if err := resolved(t, o, creds).Check(t.Context()); err != nil {
		t.Fatalf("Check with the server's CA in spec.s3.caBundle: %v", err)
	}
	o.Spec.S3.CABundle = base64.StdEncoding.EncodeToString(ca) // as earlier versions stored it
	if err := resolved(t, o, creds).Check(t.Context()); err != nil {
		t.Fatalf("Check with the server's CA base64 in spec.s3.caBundle: %v", err)
	}
}
