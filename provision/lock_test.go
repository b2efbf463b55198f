package provision_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/provision"
	"github.com/hadeploy/hadeploy/transport"
)

const lockProgram = "mkdir /var/lib/hadeploy/lock 2>/dev/null"

// race makes concurrent runs contend for each host's lock in the worst
// order: a host holds the lock-taking programs until every run's has arrived
// (or a short while has passed), then lets them through one at a time,
// starting with a different run on each host. Locking all hosts at once, run
// 0 would win web1 and lb2, run 1 web2 and run 2 lb1: all three refused.
type race struct {
	runs  int
	mu    sync.Mutex
	gates map[string]*turnstile
	seen  map[string]bool // run/host pairs already raced
}

type turnstile struct {
	first   int
	waiters []waiter
	opened  bool
}

type waiter struct {
	run  int
	turn chan struct{}
	done chan struct{}
}

// wait blocks until it is run's turn on host; call the result when done.
func (r *race) wait(host string, first, run int) func() {
	r.mu.Lock()
	key := host + "/" + strconv.Itoa(run)
	g := r.gates[host]
	if g == nil {
		g = &turnstile{first: first}
		r.gates[host] = g
		go r.open(g)
	}
	if r.seen[key] || g.opened {
		r.mu.Unlock()
		return func() {}
	}
	r.seen[key] = true
	w := waiter{run: run, turn: make(chan struct{}), done: make(chan struct{})}
	g.waiters = append(g.waiters, w)
	r.mu.Unlock()
	<-w.turn
	return func() { close(w.done) }
}

func (r *race) open(g *turnstile) {
	deadline := time.Now().Add(300 * time.Millisecond)
	for {
		r.mu.Lock()
		n := len(g.waiters)
		if n == r.runs || time.Now().After(deadline) {
			g.opened = true
			r.mu.Unlock()
			break
		}
		r.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	for i := 0; i < r.runs; i++ {
		want := (g.first + i) % r.runs
		for _, w := range g.waiters {
			if w.run == want {
				close(w.turn)
				<-w.done
			}
		}
	}
}

type racingConn struct {
	transport.Transport
	r     *race
	host  string
	first int
	run   int
}

func (c racingConn) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	b, _ := io.ReadAll(stdin)
	if strings.Contains(string(b), lockProgram) {
		defer c.r.wait(c.host, c.first, c.run)()
	}
	return c.Transport.Run(ctx, cmd, bytes.NewReader(b))
}

// collector gathers one runner's events.
type collector struct {
	mu  sync.Mutex
	evs []events.Event
}

func (c *collector) Emit(e events.Event) { c.mu.Lock(); c.evs = append(c.evs, e); c.mu.Unlock() }

func (c *collector) find(f func(events.Event) bool) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.evs {
		if f(e) {
			return true
		}
	}
	return false
}

// Issue: two applies started at the same moment could each win some hosts
// and both be refused. Of three at once on the same hosts, exactly one
// proceeds; the others fail naming it, and no host stays locked.
func TestThreeConcurrentAppliesExactlyOneProceeds(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	const n = 3
	rc := &race{runs: n, gates: map[string]*turnstile{}, seen: map[string]bool{}}
	runners := make([]*provision.Runner, n)
	for i := range runners {
		id := "R" + strconv.Itoa(i)
		runners[i] = &provision.Runner{
			Cluster: fc.c, Hosts: fc.c.Hosts, RunID: id, Meta: "tester" + strconv.Itoa(i) + "@here pid=" + strconv.Itoa(100+i) + " cmd=apply",
			Sink: &collector{},
			Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
				return racingConn{Transport: fc.hosts[h.Name].Transport(), r: rc, host: h.Name, first: hostIndex(fc.c, h.Name) % n, run: i}, nil
			},
		}
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i, r := range runners {
		wg.Add(1)
		go func() { defer wg.Done(); _, errs[i] = r.Apply(context.Background()) }()
	}
	wg.Wait()

	winner := -1
	for i, err := range errs {
		if err == nil {
			if winner >= 0 {
				t.Fatalf("runs %d and %d both proceeded", winner, i)
			}
			winner = i
		}
	}
	if winner < 0 {
		t.Fatalf("no run proceeded:\n%v\n%v\n%v", errs[0], errs[1], errs[2])
	}
	for i, err := range errs {
		if i == winner {
			continue
		}
		var le *provision.LockedError
		if !errors.As(err, &le) {
			t.Errorf("run %d: want a LockedError, got %v", i, err)
			continue
		}
		if !strings.Contains(err.Error(), "run R"+strconv.Itoa(winner)+" by tester"+strconv.Itoa(winner)+"@here") {
			t.Errorf("run %d: the error does not name the winner R%d:\n%v", i, winner, err)
		}
	}
	for name, h := range fc.hosts {
		if l := h.LockInfo(); l != "" {
			t.Errorf("%s left locked: %s", name, l)
		}
	}
	plans, err := fc.runner("R9").Plan(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range plans {
		if p.Changes() != 0 {
			t.Errorf("%s: %d changes left: the winner did not converge", p.Host.Name, p.Changes())
		}
	}
}

func hostIndex(c *inventory.Cluster, name string) int {
	for i, h := range c.Hosts {
		if h.Name == name {
			return i
		}
	}
	return -1
}

// blockStep holds the first step program on one host until released.
type blockStep struct {
	transport.Transport
	started chan<- struct{}
	release <-chan struct{}
	once    *sync.Once
}

func (c blockStep) Run(ctx context.Context, cmd string, stdin io.Reader) (transport.Result, error) {
	b, _ := io.ReadAll(stdin)
	if strings.Contains(string(b), `echo "begin "`) {
		c.once.Do(func() { close(c.started); <-c.release })
	}
	return c.Transport.Run(ctx, cmd, bytes.NewReader(b))
}

// --lock-wait: a second apply waits while the first holds the lock, says
// who holds it, and proceeds once it is free.
func TestLockWaitWaitsForTheHolderThenProceeds(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	started, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	first := &provision.Runner{Cluster: fc.c, Hosts: fc.c.Hosts, RunID: "RA", Meta: "alice@here pid=1 cmd=apply", Sink: &collector{},
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			return blockStep{Transport: fc.hosts[h.Name].Transport(), started: started, release: release, once: &once}, nil
		}}
	firstDone := make(chan error, 1)
	go func() { _, err := first.Apply(context.Background()); firstDone <- err }()
	<-started

	sink := &collector{}
	second := &provision.Runner{Cluster: fc.c, Hosts: fc.c.Hosts, RunID: "RB", Meta: "bob@here pid=2 cmd=apply", Sink: sink, LockWait: 30 * time.Second,
		Dial: func(ctx context.Context, h *inventory.Host) (transport.Transport, error) {
			return fc.hosts[h.Name].Transport(), nil
		}}
	secondDone := make(chan error, 1)
	go func() { _, err := second.Apply(context.Background()); secondDone <- err }()
	waiting := func(e events.Event) bool {
		return e.Type == events.EvInfo && e.Step == "lock" && strings.Contains(e.Message, "run RA by alice@here")
	}
	for deadline := time.Now().Add(5 * time.Second); !sink.find(waiting); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the second apply never said it waits for the first's lock")
		}
	}
	select {
	case err := <-secondDone:
		t.Fatalf("the second apply ended while the first held the lock: %v", err)
	default:
	}
	close(release)
	if err := <-firstDone; err != nil {
		t.Fatalf("first apply: %v", err)
	}
	select {
	case err := <-secondDone:
		if err != nil {
			t.Fatalf("second apply after the lock freed: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the second apply did not proceed once the lock was free")
	}
	for name, h := range fc.hosts {
		if l := h.LockInfo(); l != "" {
			t.Errorf("%s left locked: %s", name, l)
		}
	}
}

// --lock-wait that runs out fails like no wait, saying how long it waited;
// a lock someone else holds stays, ours are released.
func TestLockWaitGivesUp(t *testing.T) {
	fc := newCluster(t)
	fc.hosts["lb2"].SetLock("run X by alice@laptop pid=1 cmd=apply since 2026")
	r := fc.runner("R1")
	r.LockWait = 600 * time.Millisecond
	t0 := time.Now()
	_, err := r.Apply(context.Background())
	var le *provision.LockedError
	if !errors.As(err, &le) || le.Waited != r.LockWait || !strings.Contains(err.Error(), "lb2: run X by alice@laptop") {
		t.Fatalf("want a LockedError naming lb2's holder after waiting, got %v", err)
	}
	if took := time.Since(t0); took < r.LockWait || took > r.LockWait+2*time.Second {
		t.Errorf("gave up after %s, want about %s", took, r.LockWait)
	}
	for name, h := range fc.hosts {
		if l := h.LockInfo(); (l != "") != (name == "lb2") {
			t.Errorf("%s: lock %q", name, l)
		}
	}
}

// A lock left by a hadeploy process of this machine that no longer runs
// (killed) is taken over, on the first host and the others alike.
func TestDeadHoldersLockIsTakenOver(t *testing.T) {
	fc := newCluster(t)
	fc.giveVIP("lb1")
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	dead := "run X by root@" + host + " pid=" + strconv.Itoa(cmd.Process.Pid) + " cmd=apply since 2026"
	fc.hosts["lb1"].SetLock(dead)
	fc.hosts["web2"].SetLock(dead)
	if _, err := fc.runner("R1").Apply(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, h := range fc.hosts {
		if l := h.LockInfo(); l != "" {
			t.Errorf("%s left locked: %s", name, l)
		}
	}
}
