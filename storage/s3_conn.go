package storage

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
)

// writeChunk is how much of a request body goes to the connection in one
// write. net/http copies a body to the connection 32 KiB at a time; a
// sealed upload of many MiB then costs a system call (and, over loopback,
// a pass through the receiver's TCP stack) every 32 KiB.
const writeChunk = 512 << 10

var writeBufs = sync.Pool{New: func() any { return new([writeChunk]byte) }}

// dialBigWrites wraps dial so that its connections take request bodies
// writeChunk bytes at a time (see bigWriteConn).
func dialBigWrites(dial func(ctx context.Context, network, addr string) (net.Conn, error)) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &bigWriteConn{Conn: c}, nil
	}
}

// bigWriteConn is a connection whose ReadFrom, which net/http uses to send
// a request body, fills a writeChunk buffer from the body before each
// write. Over TLS it is not used: the TLS connection writes records.
type bigWriteConn struct{ net.Conn }

func (c *bigWriteConn) ReadFrom(r io.Reader) (int64, error) {
	buf := writeBufs.Get().(*[writeChunk]byte)
	defer writeBufs.Put(buf)
	var total int64
	for {
		n, rerr := io.ReadFull(r, buf[:])
		if n > 0 {
			w, err := c.Write(buf[:n])
			total += int64(w)
			if err != nil {
				return total, err
			}
		}
		switch {
		case rerr == nil:
		case errors.Is(rerr, io.EOF), errors.Is(rerr, io.ErrUnexpectedEOF):
			return total, nil
		default:
			return total, rerr
		}
	}
}
