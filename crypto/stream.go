package crypto

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"filippo.io/age"
)

var (
	// ErrWrongIdentity: none of the given identities can open the file. A
	// damaged recipient stanza in the header looks the same (age cannot tell
	// a wrong key from a damaged wrapped key).
	ErrWrongIdentity = errors.New("no identity matches the file's recipients")
	// ErrCorrupt: the file is not a well-formed age file, or its header or
	// payload fails authentication (a flipped bit, a truncation, a splice).
	ErrCorrupt = errors.New("age file is corrupt or truncated")
)

// Encrypt returns a WriteCloser that encrypts what is written to it and writes
// the standard age format to dst, chunk by chunk (64 KiB), never holding more.
// Encrypt itself writes the header (HeaderSize bytes) to dst before it
// returns. The caller must call Close to write the last chunk; without it the
// file is truncated and will not decrypt. Close does not close dst.
func Encrypt(dst io.Writer, recipients []Recipient) (io.WriteCloser, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	w, err := age.Encrypt(dst, ageRecipients(recipients)...)
	if err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	return w, nil
}

// EncryptReader returns a Reader of the age file of what it reads from src,
// as Encrypt writes it: the header (HeaderSize bytes), then the payload,
// which is read from src a 64 KiB chunk at a time, sealed in place and read
// out. It needs no goroutine or pipe between the plaintext and a consumer
// that reads (an upload's body). An error of src is returned as is, and
// every Read after it fails too.
func EncryptReader(src io.Reader, recipients []Recipient) (io.Reader, error) {
	if len(recipients) == 0 {
		return nil, ErrNoRecipients
	}
	r, err := age.EncryptReader(src, ageRecipients(recipients)...)
	if err != nil {
		return nil, fmt.Errorf("age encrypt: %w", err)
	}
	return r, nil
}

// ageIntro is the first line of every age file (age-encryption.org/v1).
const ageIntro = "age-encryption.org/v1\n"

// Decrypt returns a Reader of the plaintext of the age file in src.
//
// Header problems are reported here: ErrWrongIdentity when no identity
// matches, ErrCorrupt when the header is malformed, truncated or fails its
// MAC. Payload problems are reported by Read, wrapping ErrCorrupt. An error
// of src itself (other than io.EOF) is returned wrapped, and is never marked
// ErrCorrupt: a failed download is not a damaged file. Plaintext is released
// only after its 64 KiB chunk authenticates, so a reader that reaches io.EOF
// has seen the whole, authentic file. Errors never quote the input's first
// line, which for a file that is not age may be plaintext.
func Decrypt(src io.Reader, identities []Identity) (io.Reader, error) {
	if len(identities) == 0 {
		return nil, ErrNoIdentities
	}
	for _, id := range identities {
		if id.Identity == nil {
			return nil, errors.New("age decrypt: zero Identity in list")
		}
	}
	tr := &trackReader{r: src}
	br := bufio.NewReader(tr) // age.Decrypt uses it as is, no second buffer
	intro, err := br.Peek(len(ageIntro))
	if string(intro) != ageIntro {
		if tr.err != nil {
			return nil, fmt.Errorf("read age file: %w", tr.err)
		}
		if len(intro) == 0 && err != nil {
			return nil, fmt.Errorf("%w: file is empty", ErrCorrupt)
		}
		return nil, fmt.Errorf("%w: not an age file (no %q line)", ErrCorrupt, strings.TrimSpace(ageIntro))
	}
	r, err := age.Decrypt(br, ageIdentities(identities)...)
	if err != nil {
		return nil, decryptError(err, tr.err, identities)
	}
	return &payloadReader{r: r, src: tr}, nil
}

func decryptError(err, srcErr error, identities []Identity) error {
	if srcErr != nil {
		return fmt.Errorf("read age file: %w", srcErr)
	}
	var noMatch *age.NoIdentityMatchError
	if errors.As(err, &noMatch) {
		fps := make([]string, 0, len(identities))
		for _, id := range identities {
			fps = append(fps, id.String())
		}
		return fmt.Errorf("%w (file's recipient types: %s; tried: %s)", ErrWrongIdentity,
			stanzaTypes(noMatch.StanzaTypes), strings.Join(fps, ", "))
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: header is truncated", ErrCorrupt)
	}
	// age quotes the offending header line, which can be long.
	return fmt.Errorf("%w: %s", ErrCorrupt, abbreviateTo(err.Error(), 200))
}

// stanzaTypes lists the distinct recipient types of a header, briefly: they
// come from the file, which may be hostile.
func stanzaTypes(types []string) string {
	const most = 4
	var out []string
	for _, t := range types {
		t = abbreviate(t)
		if !slices.Contains(out, t) {
			out = append(out, t)
		}
	}
	if len(out) > most {
		out = append(out[:most], "...")
	}
	return strings.Join(out, ", ")
}

// trackReader remembers the first error of the source other than io.EOF, so
// that failures of the source are not mistaken for a damaged file.
type trackReader struct {
	r   io.Reader
	err error
}

func (t *trackReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if err != nil && err != io.EOF && t.err == nil {
		t.err = err
	}
	return n, err
}

// payloadReader marks payload failures with ErrCorrupt so callers can tell
// tampering from I/O errors of the source with errors.Is.
type payloadReader struct {
	r   io.Reader
	src *trackReader
}

func (p *payloadReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	switch {
	case err == nil || errors.Is(err, io.EOF):
	case p.src.err != nil:
		err = fmt.Errorf("read age file: %w", p.src.err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		err = fmt.Errorf("%w: payload is truncated", ErrCorrupt)
	default:
		err = fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return n, err
}
