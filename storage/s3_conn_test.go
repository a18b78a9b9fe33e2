package storage

import (
	"bytes"
	"errors"
	"io"
	"net"
	"slices"
	"testing"
	"testing/iotest"
)

// recordingConn records each write (pure logic: what bigWriteConn hands
// the connection).
type recordingConn struct {
	net.Conn
	got    bytes.Buffer
	writes []int
	fail   error
}

func (c *recordingConn) Write(p []byte) (int, error) {
	if c.fail != nil {
		return 0, c.fail
	}
	c.writes = append(c.writes, len(p))
	return c.got.Write(p)
}

// TestBigWriteConn: a body read a byte at a time still reaches the
// connection in writeChunk writes, whole and in order; a failed read or
// write ends ReadFrom with that error.
func TestBigWriteConn(t *testing.T) {
	body := bytes.Repeat([]byte("0123456789abcdef"), (2*writeChunk+1000)/16)
	rc := &recordingConn{}
	n, err := (&bigWriteConn{Conn: rc}).ReadFrom(iotest.OneByteReader(bytes.NewReader(body)))
	if err != nil || n != int64(len(body)) || !bytes.Equal(rc.got.Bytes(), body) {
		t.Fatalf("ReadFrom = %d, %v; the connection got %d bytes (equal: %v), want %d", n, err, rc.got.Len(), bytes.Equal(rc.got.Bytes(), body), len(body))
	}
	if want := []int{writeChunk, writeChunk, len(body) - 2*writeChunk}; !slices.Equal(rc.writes, want) {
		t.Errorf("writes %v, want %v", rc.writes, want)
	}

	readErr := errors.New("source gone")
	rc = &recordingConn{}
	if _, err := (&bigWriteConn{Conn: rc}).ReadFrom(io.MultiReader(bytes.NewReader(body[:100]), iotest.ErrReader(readErr))); !errors.Is(err, readErr) {
		t.Errorf("ReadFrom of a failing body = %v, want %v", err, readErr)
	}
	writeErr := errors.New("connection reset")
	rc = &recordingConn{fail: writeErr}
	if _, err := (&bigWriteConn{Conn: rc}).ReadFrom(bytes.NewReader(body)); !errors.Is(err, writeErr) {
		t.Errorf("ReadFrom to a failing connection = %v, want %v", err, writeErr)
	}
}
