package device

import (
	"context"
	"strings"
	"sync"
)

// Chunk is output on one stream.
type Chunk struct {
	Stream string // "stdout" or "stderr"
	Data   []byte
}

// Proc is a running (or finished) command. Output is kept until read.
type Proc struct {
	mu       sync.Mutex
	out      []Chunk
	exited   bool
	code     int
	notify   chan struct{} // closed and replaced on every change
	stdin    []byte
	stdinEOF bool
	cancel   func() // stops the work behind the process, if any
}

func newProc() *Proc { return &Proc{notify: make(chan struct{})} }

// finished returns a process that has already exited with this output.
func finished(stdout, stderr string, code int) *Proc {
	p := newProc()
	p.write("stdout", stdout)
	p.write("stderr", stderr)
	p.exit(code)
	return p
}

func (p *Proc) changed() {
	close(p.notify)
	p.notify = make(chan struct{})
}

func (p *Proc) write(stream, s string) {
	if s == "" {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.out = append(p.out, Chunk{Stream: stream, Data: []byte(s)})
	p.changed()
}

func (p *Proc) exit(code int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.exited {
		return
	}
	p.exited, p.code = true, code
	p.changed()
}

// Read waits for output or exit (or ctx) and returns what there is.
func (p *Proc) Read(ctx context.Context) ([]Chunk, bool, int) {
	for {
		p.mu.Lock()
		if len(p.out) > 0 || p.exited {
			out := p.out
			p.out = nil
			exited, code := p.exited, p.code
			p.mu.Unlock()
			return out, exited, code
		}
		ch := p.notify
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, false, 0
		}
	}
}

// Input takes stdin; the simulated commands do not read it.
func (p *Proc) Input(data []byte, eof bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stdin = append(p.stdin, data...)
	p.stdinEOF = p.stdinEOF || eof
}

// Terminate stops the process; it exits as a terminated Windows process
// does (exit code 0xC000013A, STATUS_CONTROL_C_EXIT), unless it already has.
func (p *Proc) Terminate() {
	p.mu.Lock()
	cancel := p.cancel
	p.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	p.exit(-1073741510)
}

// readAll waits for the process to exit and returns all its output.
func readAll(p *Proc) (stdout, stderr string, code int) {
	var o, e strings.Builder
	for {
		out, exited, c := p.Read(context.Background())
		for _, ch := range out {
			if ch.Stream == "stderr" {
				e.Write(ch.Data)
			} else {
				o.Write(ch.Data)
			}
		}
		if exited {
			return o.String(), e.String(), c
		}
	}
}

// isExited reports whether the process has exited.
func (p *Proc) isExited() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exited
}
