package seal

import "sync"

// Progress reports how far a seal, verification or restore has come. Bytes
// count plaintext read from the source (sealing) or ciphertext read from the
// offsite store (verifying, restoring).
type Progress struct {
	Schedule, Backup string
	// Object is the object whose bytes or completion this report is about.
	Object       string
	BytesDone    int64
	BytesTotal   int64
	ObjectsDone  int
	ObjectsTotal int
}

// meter serializes progress reports, so callbacks need not be safe for
// concurrent use. A retried object takes its bytes back.
type meter struct {
	mu sync.Mutex
	fn func(Progress)
	p  Progress
}

func newMeter(fn func(Progress), schedule, backup string, objects int, bytes int64) *meter {
	return &meter{fn: fn, p: Progress{Schedule: schedule, Backup: backup, ObjectsTotal: objects, BytesTotal: bytes}}
}

// add counts n bytes (negative to take them back) of object.
func (m *meter) add(object string, n int64) {
	if m == nil || m.fn == nil || n == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p.BytesDone += n
	m.p.Object = object
	m.fn(m.p)
}

// done counts a finished object.
func (m *meter) done(object string) {
	if m == nil || m.fn == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.p.ObjectsDone++
	m.p.Object = object
	m.fn(m.p)
}
