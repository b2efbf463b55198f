package transport

import (
	"sync"
	"time"
)

// pausableTimer calls fn once d has elapsed, not counting paused time.
type pausableTimer struct {
	mu        sync.Mutex
	remaining time.Duration
	started   time.Time
	timer     *time.Timer
	paused    int
	done      bool // fired or stopped
	fn        func()
}

func newPausableTimer(d time.Duration, fn func()) *pausableTimer {
	p := &pausableTimer{remaining: d, started: time.Now(), fn: fn}
	p.timer = time.AfterFunc(d, p.fire)
	return p
}

func (p *pausableTimer) fire() {
	p.mu.Lock()
	if p.done || p.paused > 0 {
		p.mu.Unlock()
		return
	}
	p.done = true
	p.mu.Unlock()
	p.fn()
}

func (p *pausableTimer) pause() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.paused == 0 && !p.done {
		p.timer.Stop()
		p.remaining -= time.Since(p.started)
	}
	p.paused++
}

func (p *pausableTimer) resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.paused--
	if p.paused == 0 && !p.done {
		p.started = time.Now()
		p.timer = time.AfterFunc(max(p.remaining, 0), p.fire)
	}
}

func (p *pausableTimer) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done = true
	p.timer.Stop()
}
