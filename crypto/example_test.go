package crypto_test

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/safekeep-dev/safekeep/crypto"
)

// An identity file as age-keygen writes it. Never commit a real one.
const exampleIdentityFile = `# created: 2026-11-25T18:06:03Z
# public key: age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9
AGE-SECRET-KEY-1DY9QTM245MQ499P7XHRJ7WYP7V65QZN74GA5QAWKVVJ2PMLRM87Q5C2T2R
`

func ExampleEncrypt() {
	recipients, err := crypto.ParseRecipients([]string{"age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9"})
	if err != nil {
		log.Fatalf("recipients: %v", err)
	}
	plain := "Velero backup bytes"
	size, err := crypto.EncryptedSize(recipients, int64(len(plain)))
	if err != nil {
		log.Fatalf("size: %v", err)
	}

	out := &bytes.Buffer{}
	w, err := crypto.Encrypt(out, recipients)
	if err != nil {
		log.Fatalf("encrypt: %v", err)
	}
	if _, err := io.WriteString(w, plain); err != nil {
		log.Fatalf("write: %v", err)
	}
	if err := w.Close(); err != nil { // writes the last chunk
		log.Fatalf("close: %v", err)
	}
	fmt.Printf("encrypted file size: %d bytes, as predicted: %v\n", out.Len(), int64(out.Len()) == size)
	// Output:
	// encrypted file size: 219 bytes, as predicted: true
}

func ExampleDecrypt() {
	identities, err := crypto.ParseIdentities(strings.NewReader(exampleIdentityFile))
	if err != nil {
		log.Fatalf("identities: %v", err)
	}
	recipients, err := crypto.ParseRecipients([]string{"age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9"})
	if err != nil {
		log.Fatalf("recipients: %v", err)
	}
	file := &bytes.Buffer{}
	if _, err := crypto.EncryptDigest(file, strings.NewReader("Velero backup bytes"), recipients); err != nil {
		log.Fatalf("encrypt: %v", err)
	}

	r, err := crypto.Decrypt(file, identities)
	if err != nil {
		log.Fatalf("decrypt: %v", err)
	}
	if _, err := io.Copy(os.Stdout, r); err != nil {
		log.Fatalf("read: %v", err)
	}
	fmt.Println()
	fmt.Println(identities[0]) // prints the fingerprint, never the key
	fmt.Println(identities[0].Fingerprint() == recipients[0].Fingerprint())
	// Output:
	// Velero backup bytes
	// age identity sha256:f709a070a479ccde2cfc3b5d49956790
	// true
}

// The sealer's use: learn the exact size first, so the upload can carry a
// Content-Length, then stream through EncryptDigest into the upload.
func ExampleEncryptDigest() {
	recipients, err := crypto.ParseRecipients([]string{"age1zgywgxe2eyhkat0psmyqnql2ncfkp3w4dez8pjg0ss4c3e6zmv5sj2yre9"})
	if err != nil {
		log.Fatalf("recipients: %v", err)
	}
	plain := strings.Repeat("velero ", 100000)
	size, err := crypto.EncryptedSize(recipients, int64(len(plain)))
	if err != nil {
		log.Fatalf("size: %v", err)
	}

	pr, pw := io.Pipe()
	uploaded := make(chan int64)
	go func() { // stands in for an S3 PUT with Content-Length: size
		n, _ := io.Copy(io.Discard, pr)
		uploaded <- n
	}()
	d, err := crypto.EncryptDigest(pw, strings.NewReader(plain), recipients)
	pw.CloseWithError(err)
	if err != nil {
		log.Fatalf("seal: %v", err)
	}
	fmt.Println(<-uploaded == size, d.CipherSize == size, d.PlainSize)
	fmt.Printf("plaintext sha256:%x\n", d.PlainSHA256)
	// Output:
	// true true 700000
	// plaintext sha256:a11891db969a3a3e8881e6854b979fb77437311d64d58a83f5cf2e36a9a7c416
}
