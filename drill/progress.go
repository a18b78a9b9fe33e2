package drill

import "sync"

// progress serializes reports to Options.Progress.
type progress struct {
	mu    sync.Mutex
	fn    func(Step)
	total int64
	done  int64
}

func (p *progress) step(s Step) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fn(s)
}

// bytes reports n more ciphertext bytes staged.
func (p *progress) bytes(n int64) {
	if p.fn == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done += n
	p.fn(Step{Phase: PhaseStage, Done: p.done, Total: p.total})
}

func (p *progress) objectDone() {}
