package cli

import (
	"strings"
	"testing"
)

// badInputStep runs each wrong command line or file and wants one clear
// line on stderr and the right exit code.
func badInputStep(t *testing.T, b *bed, k keys, bsl, target string) {
	other := b.path("other.txt")
	b.ok(t, "keygen", "-o", other)
	badRecipient := b.write(t, "bad-recipient.yaml", strings.Replace(readFile(t, target), k.recipient, "age1qqqqinvalid", 1))
	unknownField := b.write(t, "unknown-field.yaml", strings.Replace(readFile(t, target), "bucket:", "buckit:", 1))
	badYAML := b.write(t, "bad.yaml", "spec: [\n")
	missing := b.path("missing.yaml")
	seal := func(extra ...string) []string {
		return append([]string{"seal", "--source", bsl, "--backup", "b1", "--target-file", target, "--signing-key", k.signing}, extra...)
	}
	verify := func(ref string, extra ...string) []string {
		return append([]string{"verify", "--target-file", target, "--backup", ref}, extra...)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		want string
	}{
		// Usage errors: exit 2, naming the flag.
		{"unknown verb", []string{"sael"}, nil, exitUsage, `unknown command "sael" (did you mean "seal"?)`},
		{"stray argument", []string{"backups", "--target-file", target, "extra"}, nil, exitUsage, `unexpected argument "extra"`},
		{"unknown flag", []string{"backups", "--target-file", target, "--bogus"}, nil, exitUsage, "unknown flag: --bogus"},
		{"bad output format", []string{"backups", "--target-file", target, "-o", "yaml"}, nil, exitUsage, `-o "yaml"`},
		{"no target", []string{"backups"}, nil, exitUsage, "safekeep: backups: --target-file is required"},
		{"seal without source", []string{"seal", "--backup", "b1", "--target-file", target}, nil, exitUsage, "--source is required"},
		{"seal without backup", []string{"seal", "--source", bsl, "--target-file", target}, nil, exitUsage, "--backup is required"},
		{"seal without target", []string{"seal", "--source", bsl, "--backup", "b1"}, nil, exitUsage, "--target-file is required"},
		{"seal without signing key", []string{"seal", "--source", bsl, "--backup", "b1", "--target-file", target}, map[string]string{SigningKeyEnv: ""}, exitUsage, "--signing-key is required"},
		{"seal bad schedule", seal("--schedule", "Night_ly"), nil, exitUsage, `seal: --schedule: invalid schedule name "Night_ly"`},
		{"seal bad concurrency", seal("--concurrency", "0"), nil, exitUsage, "--concurrency"},
		{"seal concurrency not a number", seal("--concurrency", "four"), nil, exitUsage, "--concurrency"},
		{"verify without backup", []string{"verify", "--target-file", target}, nil, exitUsage, "--backup is required"},
		{"verify backup without schedule", verify("b1"), nil, exitUsage, `--backup "b1": want SCHEDULE/NAME`},
		{"verify backup with two slashes", verify("manual/b1/x"), nil, exitUsage, "want SCHEDULE/NAME"},
		{"verify bad backup name", verify("manual/B_1"), nil, exitUsage, `verify: --backup: invalid backup name "B_1"`},
		{"restore without identity", []string{"restore", "--target-file", target, "--backup", "manual/b1", "--to-dir", b.path("x")}, nil, exitUsage, "--identity is required"},
		{"restore without dir", []string{"restore", "--target-file", target, "--backup", "manual/b1", "-i", k.identity}, nil, exitUsage, "--to-dir is required"},

		// Bad files: exit 1, naming the file and the field.
		{"unknown target file", []string{"backups", "--target-file", missing}, nil, exitFailure, "backups: open " + missing + ": no such file"},
		{"bad YAML", []string{"backups", "--target-file", badYAML}, nil, exitFailure, badYAML + ": not valid YAML"},
		{"unknown field", []string{"backups", "--target-file", unknownField}, nil, exitFailure, unknownField + `: unknown field "spec.s3.buckit"`},
		{"bad recipient", []string{"seal", "--source", bsl, "--backup", "b1", "--target-file", badRecipient, "--signing-key", k.signing}, nil, exitFailure, badRecipient + ": spec.recipients[0]"},
		{"unknown source file", []string{"seal", "--source", missing, "--backup", "b1", "--target-file", target, "--signing-key", k.signing}, nil, exitFailure, "seal manual/b1: open " + missing},
		{"source is a target", seal("--source", target), nil, exitFailure, target + `: apiVersion is "safekeep.dev/v1alpha1", want velero.io/v1`},
		{"signing key is an age identity", seal("--signing-key", k.identity), nil, exitFailure, k.identity + ": signing key"},
		{"unknown identity file", verify("manual/b1", "-i", missing), nil, exitFailure, "open " + missing},
		// A PKCS#8 ed25519 key parses as an SSH identity; it just opens nothing.
		{"identity is a signing key", verify("manual/b1", "-i", k.signing), nil, exitFailure, "no given identity can decrypt it"},
		{"verify key is not a key", verify("manual/b1", "--verify-key", k.identity), nil, exitFailure, "verify key"},

		// Failures in the bucket: exit 1.
		{"missing credentials", []string{"backups", "--target-file", target}, map[string]string{"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, exitFailure, "credentials"},
		{"wrong credentials", []string{"backups", "--target-file", target}, map[string]string{"AWS_SECRET_ACCESS_KEY": "wrong-secret-0123456789"}, exitFailure, "backups: "},
		{"backup not in the source", seal("--backup", "nope"), nil, exitFailure, "seal manual/nope: not a velero backup"},
		{"backup not sealed", verify("manual/nope"), nil, exitFailure, "verify manual/nope: backup is not sealed"},
		{"restore backup not sealed", []string{"restore", "--target-file", target, "--backup", "manual/nope", "-i", k.identity, "--to-dir", b.path("nope")}, nil, exitFailure, "backup is not sealed"},
		{"verify with wrong identity", verify("manual/b1", "-i", other), nil, exitFailure, "verify manual/b1: backup manual/b1: manifest.json.age: decrypt: no given identity can decrypt it"},
		{"restore with wrong identity", []string{"restore", "--target-file", target, "--backup", "manual/b1", "-i", other, "--to-dir", b.path("wrong")}, nil, exitFailure, "restore manual/b1"},
		{"verify with wrong pinned key", verify("manual/b1", "--verify-key", "ed25519:"+strings.Repeat("A", 43)+"="), nil, exitFailure, "verify manual/b1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			r := b.run(t, tt.args...)
			checkOneLine(t, r, tt.code, tt.want)
			if strings.Contains(r.err, "wrong-secret") {
				t.Errorf("stderr reveals the secret access key: %q", r.err)
			}
		})
	}
	t.Logf("bad command lines and files: %d inputs, each refused with one line naming what is wrong", len(tests))
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	data, err := readFileBytes(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
