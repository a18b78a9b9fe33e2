package cli

import (
	"bytes"
	"strings"
	"testing"
)

// TestRestoreUsage checks the command lines 'safekeep restore' refuses
// before touching anything: exit 2 and one line naming the flag.
func TestRestoreUsage(t *testing.T) {
	base := []string{"restore", "--target-file", "t.yaml", "--backup", "nightly/b1", "-i", "id.txt"}
	with := func(extra ...string) []string { return append(append([]string{}, base...), extra...) }
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"neither mode", base, "--to-dir is required"},
		{"both modes", with("--to-dir", "d", "--namespace-mapping", "a:b"), "--to-dir and --namespace-mapping are exclusive"},
		{"staging with dir", with("--to-dir", "d", "--staging-location", "s"), "--staging-location needs --namespace-mapping"},
		{"mapping without staging", with("--namespace-mapping", "a:b"), "--staging-location is required with --namespace-mapping"},
		{"overwrite without dir", with("--namespace-mapping", "a:b", "--staging-location", "s", "--overwrite"), "--overwrite needs --to-dir"},
		{"mapping without colon", with("--staging-location", "s", "--namespace-mapping", "phi-app"), `--namespace-mapping "phi-app": want SRC:DST`},
		{"mapping empty side", with("--staging-location", "s", "--namespace-mapping", "phi-app:"), `--namespace-mapping "phi-app:": want SRC:DST`},
		{"mapping bad name", with("--staging-location", "s", "--namespace-mapping", "phi-app:Phi_App"), `"Phi_App" is not a valid namespace name`},
		{"mapping twice", with("--staging-location", "s", "--namespace-mapping", "a:b", "--namespace-mapping", "a:c"), "namespace a is mapped twice"},
		{"bad timeout", with("--namespace-mapping", "a:b", "--staging-location", "s", "--restore-timeout", "0s"), "--restore-timeout must be positive"},
		{"timeout not a duration", with("--namespace-mapping", "a:b", "--restore-timeout", "soon"), "--restore-timeout"},
		{"no identity", []string{"restore", "--target-file", "t.yaml", "--backup", "nightly/b1", "--namespace-mapping", "a:b"}, "--identity is required"},
		{"no backup", []string{"restore", "--target-file", "t.yaml", "-i", "id.txt", "--namespace-mapping", "a:b"}, "--backup is required"},
		{"two targets", with("--target", "x", "--namespace-mapping", "a:b"), "--target-file and --target are exclusive"},
		{"isolated to a dir", with("--to-dir", "d", "--isolated"), "--isolated needs --namespace-mapping"},
		{"run without isolated", with("--namespace-mapping", "a:b", "--staging-location", "s", "--run", "Deployment"), "--run and --allow-dns need --isolated"},
		{"dns without isolated", with("--namespace-mapping", "a:b", "--staging-location", "s", "--allow-dns"), "--run and --allow-dns need --isolated"},
		{"reader with a dir", with("--to-dir", "d", "--volume-reader-image", "img"), "--volume-reader-image needs --namespace-mapping"},
		{"reader with no pod running", with("--namespace-mapping", "a:b", "--staging-location", "s", "--isolated", "--volume-reader-image", "img"), "--volume-reader-image needs"},
		{"run an unknown kind", with("--namespace-mapping", "a:b", "--staging-location", "s", "--isolated", "--run", "Ingress"), `--run "Ingress": want one of Pod, Deployment`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			code := Run(t.Context(), tc.args, Streams{Out: &out, Err: &errOut})
			line := errOut.String()
			if code != exitUsage || strings.Count(line, "\n") != 1 || !strings.HasPrefix(line, "safekeep: restore: ") || !strings.Contains(line, tc.want) {
				t.Errorf("exit %d, stderr %q; want exit 2 and one line with %q", code, line, tc.want)
			}
			if out.Len() > 0 {
				t.Errorf("stdout: %q", out.String())
			}
		})
	}
}

func TestParseMappings(t *testing.T) {
	got, err := parseMappings([]string{"phi-app:phi-app-restored", "billing:billing"})
	if err != nil || len(got) != 2 || got["phi-app"] != "phi-app-restored" || got["billing"] != "billing" {
		t.Errorf("parseMappings = %v, %v", got, err)
	}
}

// withoutAuditNotice drops the stderr notice of a restore that wrote no
// audit entry (no signing key), which is not a failure.
func withoutAuditNotice(stderr string) string {
	var keep []string
	for _, line := range strings.SplitAfter(stderr, "\n") {
		if !strings.HasPrefix(line, "safekeep: "+noAuditEntry) {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "")
}
