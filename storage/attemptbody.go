package storage

import (
	"errors"
	"io"
	"sync"
)

// errAttemptOver fails a read of a request body after its attempt returned.
var errAttemptOver = errors.New("request attempt is over")

// attemptBody is the body of one request attempt. net/http may go on
// reading a request's body after the request returned (the server
// answered early, say 503 before it read the body, while the transport's
// writer still sends it). Once end is called, reads fail instead: the
// buffer of a multipart part can be refilled with the next part, and a
// retried body sought back, with nothing of the finished attempt reading
// it.
type attemptBody struct {
	mu   sync.Mutex
	r    io.Reader
	over bool
}

func newAttemptBody(r io.Reader) *attemptBody { return &attemptBody{r: r} }

func (b *attemptBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.over {
		return 0, errAttemptOver
	}
	return b.r.Read(p)
}

// end stops every later read; a read in progress finishes first.
func (b *attemptBody) end() {
	b.mu.Lock()
	b.over = true
	b.mu.Unlock()
}
