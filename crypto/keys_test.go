package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"
)

// testKey is a key pair of one type, generated for the test binary, with the
// texts a user would hold: the recipient line and the identity file.
type testKey struct {
	name      string
	recipient Recipient
	identity  Identity
	idFile    []byte   // identity file as age -i reads it
	secrets   []string // substrings of the secret that must never appear in output
}

var (
	keysOnce sync.Once
	keys     map[string]testKey
	keysErr  error
)

// testKeys returns one key of each type: x25519, x25519b, ssh-ed25519,
// ssh-rsa, pq, pqb.
func testKeys(t testing.TB) map[string]testKey {
	t.Helper()
	keysOnce.Do(func() { keys, keysErr = generateTestKeys() })
	if keysErr != nil {
		t.Fatalf("generate test keys: %v", keysErr)
	}
	return keys
}

func generateTestKeys() (map[string]testKey, error) {
	out := map[string]testKey{}
	for _, name := range []string{"x25519", "x25519b"} {
		id, err := GenerateIdentity()
		if err != nil {
			return nil, err
		}
		k, err := ageTestKey(name, FormatIdentity(id, time.Now()), id.Recipient().String(), id.String())
		if err != nil {
			return nil, err
		}
		out[name] = k
	}
	for _, name := range []string{"pq", "pqb"} {
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return nil, err
		}
		file := []byte("# hybrid\n" + id.String() + "\n")
		k, err := ageTestKey(name, file, id.Recipient().String(), id.String())
		if err != nil {
			return nil, err
		}
		out[name] = k
	}
	_, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if out["ssh-ed25519"], err = sshTestKey("ssh-ed25519", edPriv); err != nil {
		return nil, err
	}
	rsaPriv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	if out["ssh-rsa"], err = sshTestKey("ssh-rsa", rsaPriv); err != nil {
		return nil, err
	}
	return out, nil
}

func ageTestKey(name string, file []byte, rcpt, secret string) (testKey, error) {
	r, err := ParseRecipient(rcpt)
	if err != nil {
		return testKey{}, err
	}
	ids, err := ParseIdentities(bytes.NewReader(file))
	if err != nil {
		return testKey{}, err
	}
	// The secret's data part, minus the prefix every key shares.
	return testKey{name: name, recipient: r, identity: ids[0], idFile: file,
		secrets: []string{secret, secret[20:60], strings.ToLower(secret[20:60])}}, nil
}

func sshTestKey(name string, priv any) (testKey, error) {
	block, err := ssh.MarshalPrivateKey(priv, "test key")
	if err != nil {
		return testKey{}, err
	}
	file := pem.EncodeToMemory(block)
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		return testKey{}, err
	}
	r, err := ParseRecipient(strings.TrimSpace(string(ssh.MarshalAuthorizedKey(signer.PublicKey()))) + " user@host")
	if err != nil {
		return testKey{}, err
	}
	ids, err := ParseIdentities(bytes.NewReader(file))
	if err != nil {
		return testKey{}, err
	}
	// Every base64 line of the PEM body except the first, which holds only
	// the format magic and the public key.
	var secrets []string
	lines := strings.Split(strings.TrimSpace(string(file)), "\n")
	for _, l := range lines[2 : len(lines)-1] {
		if len(l) >= 40 {
			secrets = append(secrets, l)
		}
	}
	return testKey{name: name, recipient: r, identity: ids[0], idFile: file, secrets: secrets}, nil
}

// assertNoSecret fails if s contains key material of any test key.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	for _, k := range testKeys(t) {
		for _, secret := range k.secrets {
			if strings.Contains(s, secret) {
				t.Errorf("%s reveals the %s secret key: %q", what, k.name, s)
			}
		}
	}
}

// recipientsOf and identitiesOf pick keys by name.
func recipientsOf(t testing.TB, names ...string) []Recipient {
	t.Helper()
	ks := testKeys(t)
	out := make([]Recipient, len(names))
	for i, n := range names {
		out[i] = ks[n].recipient
	}
	return out
}

func identityOf(t testing.TB, name string) []Identity {
	t.Helper()
	return []Identity{testKeys(t)[name].identity}
}

// tool finds a command the tests need and fails, naming the Debian package,
// when it is missing: CI installs it, so a skip would hide a broken set-up.
func tool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s not found (install the Debian package %s): %v", name, pkg, err)
	}
	return p
}

// run runs a command with a minimal environment and returns its stdout.
func run(t *testing.T, stdin []byte, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), name, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "LANG=C"}
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// writeFile writes data into the test's temporary directory.
func writeFile(t *testing.T, name string, data []byte, perm os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, perm); err != nil {
		t.Fatal(err)
	}
	return p
}

// plaintext returns n bytes that are not all alike, so a misplaced chunk shows.
func plaintext(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>16)
	}
	return b
}
