package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/safekeep-dev/safekeep/crypto"
)

func newKeygen(opts *options) *cobra.Command {
	var (
		out     string
		signing bool
	)
	cmd := &cobra.Command{
		Use:   "keygen [-o FILE] [--signing]",
		Short: "Generate an age identity (or, with --signing, an ed25519 signing key)",
		Long: `keygen generates a new age X25519 identity in age-keygen's format, so that
'age -d -i FILE' reads it, and prints its public key (the recipient to put in
an OffsiteTarget's spec.recipients).

With -o FILE the identity is written to FILE, created with mode 0600 (an
existing file is never overwritten), and the recipient is printed on stdout.
Without -o the identity is written to stdout, like age-keygen; when stdout is
not a terminal, the recipient is also printed on stderr as "Public key: ...".

With --signing it generates an ed25519 signing key instead (PKCS#8 PEM, the
format 'openssl genpkey -algorithm ed25519' writes) and prints its public key
as ed25519:<base64>, the form 'safekeep verify --verify-key' accepts.`,
		Example: `  safekeep keygen -o break-glass.key
  safekeep keygen --signing -o signing.pem`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if signing {
				return keygenSigning(opts.streams, out)
			}
			return keygenAge(opts.streams, out)
		},
	}
	cmd.Flags().StringVarP(&out, "output", "o", "", "write the secret key to `FILE` (mode 0600, never overwritten)")
	cmd.Flags().BoolVar(&signing, "signing", false, "generate an ed25519 signing key instead of an age identity")
	return cmd
}

// keygenAge writes a new age identity and reports its recipient.
func keygenAge(s Streams, out string) error {
	id, err := crypto.GenerateIdentity()
	if err != nil {
		return fmt.Errorf("keygen: %w", err)
	}
	rcpt := id.Recipient().String()
	text := fmt.Sprintf("# created: %s\n# public key: %s\n%s\n", time.Now().Format(time.RFC3339), rcpt, id)
	return writeSecret(s, out, "keygen", []byte(text), rcpt)
}

// keygenSigning writes a new ed25519 signing key and reports its public key.
func keygenSigning(s Streams, out string) error {
	k, err := crypto.GenerateSigningKey()
	if err != nil {
		return fmt.Errorf("keygen --signing: %w", err)
	}
	pem, err := k.MarshalPEM()
	if err != nil {
		return fmt.Errorf("keygen --signing: %w", err)
	}
	return writeSecret(s, out, "keygen --signing", pem, k.Public().String())
}

// writeSecret writes secret to the new file out (0600, refusing to replace
// anything) and prints public on stdout; with no out it follows age-keygen:
// the secret to stdout, and public on stderr when stdout is not a terminal.
func writeSecret(s Streams, out, what string, secret []byte, public string) error {
	if out == "" || out == "-" {
		if !isTerminal(s.Out) {
			// A note beside the result, as age-keygen prints it: best
			// effort (the public key can be derived from the secret).
			_, _ = fmt.Fprintf(s.Err, "Public key: %s\n", public)
		}
		if _, err := s.Out.Write(secret); err != nil {
			return fmt.Errorf("%s: write stdout: %w", what, err)
		}
		return nil
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %s already exists; not overwriting a key", what, out)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if _, err := f.Write(secret); err != nil {
		// The write failed: closing and removing the partial file only
		// clean up, and add to the error if they fail too.
		return fmt.Errorf("%s: write %s: %w", what, out, errors.Join(err, f.Close(), os.Remove(out)))
	}
	if err := errors.Join(f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("%s: close %s: %w", what, out, errors.Join(err, os.Remove(out)))
	}
	_, err = io.WriteString(s.Out, public+"\n")
	return err
}
