package cli

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/safekeep-dev/safekeep/crypto"
)

func run(t *testing.T, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(t.Context(), args, Streams{Out: &out, Err: &errb})
	return result{code: code, out: out.String(), err: errb.String()}
}

func TestKeygenFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "key.txt")
	r := run(t, "keygen", "-o", p)
	if r.code != 0 || r.err != "" {
		t.Fatalf("keygen: %+v", r)
	}
	rcpt := strings.TrimSpace(r.out)
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	// age-keygen's format, line by line.
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	if len(lines) != 3 {
		t.Fatalf("identity file has %d lines:\n%s", len(lines), data)
	}
	created, ok := strings.CutPrefix(lines[0], "# created: ")
	if ts, err := time.Parse(time.RFC3339, created); !ok || err != nil || time.Since(ts) > time.Minute {
		t.Errorf("first line %q is not '# created: <RFC 3339 now>'", lines[0])
	}
	if lines[1] != "# public key: "+rcpt {
		t.Errorf("second line %q, want '# public key: %s'", lines[1], rcpt)
	}
	if !regexp.MustCompile(`^AGE-SECRET-KEY-1[0-9A-Z]{58}$`).MatchString(lines[2]) {
		t.Errorf("third line is not an AGE-SECRET-KEY")
	}
	ids, err := crypto.ParseIdentities(bytes.NewReader(data))
	if err != nil || len(ids) != 1 {
		t.Fatalf("ParseIdentities: %v", err)
	}
	if want := crypto.Fingerprint(rcpt); ids[0].Fingerprint() != want {
		t.Errorf("printed recipient does not belong to the identity")
	}
	checkMode(t, p, 0o600)

	// age-keygen -y reads the file and derives the same recipient.
	if ageKeygen, err := exec.LookPath("age-keygen"); err != nil {
		t.Errorf("the age-keygen CLI (Debian package age) is needed: %v", err)
	} else if out, err := exec.CommandContext(t.Context(), ageKeygen, "-y", p).Output(); err != nil || strings.TrimSpace(string(out)) != rcpt {
		t.Errorf("age-keygen -y %s = %q, %v; want %s", p, out, err, rcpt)
	}

	// An existing file is never overwritten.
	r = run(t, "keygen", "-o", p)
	checkOneLine(t, r, exitFailure, p+" already exists")
	again, _ := os.ReadFile(p)
	if !bytes.Equal(again, data) {
		t.Error("keygen changed an existing file")
	}
}

func TestKeygenStdout(t *testing.T) {
	// Not a terminal: the identity on stdout, the recipient on stderr.
	r := run(t, "keygen")
	if r.code != 0 {
		t.Fatalf("keygen: %+v", r.err)
	}
	rcpt, ok := strings.CutPrefix(strings.TrimSpace(r.err), "Public key: ")
	if !ok || !strings.HasPrefix(rcpt, "age1") {
		t.Fatalf("stderr %q, want 'Public key: age1...'", r.err)
	}
	if !strings.Contains(r.out, "# public key: "+rcpt+"\nAGE-SECRET-KEY-1") {
		t.Errorf("stdout does not hold the identity")
	}
	if strings.Contains(r.err, "AGE-SECRET-KEY") {
		t.Errorf("the secret key went to stderr")
	}
}

func TestKeygenSigning(t *testing.T) {
	p := filepath.Join(t.TempDir(), "signing.pem")
	r := run(t, "keygen", "--signing", "-o", p)
	if r.code != 0 || r.err != "" {
		t.Fatalf("keygen --signing: %+v", r)
	}
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	k, err := crypto.ParseSigningKey(data)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.TrimSpace(r.out); got != k.Public().String() {
		t.Errorf("printed %q, want the key's public half %q", got, k.Public().String())
	}
	if strings.Contains(r.out, "PRIVATE") {
		t.Error("the private key went to stdout")
	}
	checkMode(t, p, 0o600)
	// openssl reads it as an ed25519 key, when openssl is here.
	if openssl, err := exec.LookPath("openssl"); err == nil {
		out, err := exec.CommandContext(t.Context(), openssl, "pkey", "-in", p, "-noout", "-text").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "ED25519") {
			t.Errorf("openssl pkey: %v: %s", err, out)
		}
	}
	r = run(t, "keygen", "--signing", "-o", p)
	checkOneLine(t, r, exitFailure, "already exists")
}

func TestUsage(t *testing.T) {
	for _, tt := range []struct {
		args []string
		code int
		out  string
	}{
		{nil, 0, "Available Commands"},
		{[]string{"--help"}, 0, "keygen"},
		{[]string{"seal", "--help"}, 0, "--signing-key FILE"},
		{[]string{"--version"}, 0, "safekeep version"},
	} {
		r := run(t, tt.args...)
		if r.code != tt.code || !strings.Contains(r.out, tt.out) {
			t.Errorf("safekeep %v: exit %d, stdout %q; want %d and %q", tt.args, r.code, r.out, tt.code, tt.out)
		}
	}
	r := run(t, "keygen", "extra")
	checkOneLine(t, r, exitUsage, `unexpected argument "extra"`)
	r = run(t, "keygen", "--bogus")
	checkOneLine(t, r, exitUsage, "unknown flag: --bogus")
}

type panicWriter struct{}

func (panicWriter) Write([]byte) (int, error) { panic("writer broke") }

// A panic below the CLI still ends in one line and exit 1.
func TestPanicIsOneLine(t *testing.T) {
	var errb bytes.Buffer
	code := Run(t.Context(), []string{"keygen", "-o", filepath.Join(t.TempDir(), "k")}, Streams{Out: panicWriter{}, Err: &errb})
	checkOneLine(t, result{code: code, err: errb.String()}, exitFailure, "safekeep: internal error: writer broke")
}
