package provision_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/transport"
)

// hangingStep carries out the first step program, then hangs until the
// context ends, as the SSH transport does for a remote program that never
// exits.
type hangingStep struct {
	transport.Transport
	started chan<- struct{}
	once    *sync.Once
}

func (c hangingStep) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	b, _ := io.ReadAll(stdin)
	res, err := c.Transport.Run(ctx, cmd, bytes.NewReader(b))
	hang := false
	if strings.Contains(string(b), `echo "begin "`) {
		c.once.Do(func() { hang = true })
	}
	if !hang {
		return res, err
	}
	close(c.started)
	<-ctx.Done()
	return transport.Result{}, ctx.Err()
}

// Cancelling an apply (Ctrl-C) while a step hangs: Apply returns within a
// second, every touched host rolled back, no lock left.
func TestCancelledApplyRollsBackWithinASecond(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	started := make(chan struct{})
	var once sync.Once
	r := fc.runner("R1")
	r.Dial = func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
		return hangingStep{Transport: fc.hosts[h.Name].Transport(), started: started, once: &once}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := r.Apply(ctx); done <- err }()
	<-started
	t0 := time.Now()
	cancel()
	var err error
	select {
	case err = <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Apply still running 5s after the cancel")
	}
	if took := time.Since(t0); took > time.Second {
		t.Errorf("Apply returned %s after the cancel", took.Round(time.Millisecond))
	}
	var ae *provision.ApplyError
	if !errors.As(err, &ae) || !ae.RolledBack || !errors.Is(err, context.Canceled) {
		t.Fatalf("want a rolled back ApplyError for the cancel, got %v", err)
	}
	for name, h := range fc.hosts {
		if p := h.Paths(); len(p) != 0 {
			t.Errorf("%s: files left: %v", name, p)
		}
		if l := h.LockInfo(); l != "" {
			t.Errorf("%s still locked: %s", name, l)
		}
	}
}
