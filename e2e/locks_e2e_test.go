package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/events"
)

// started is a hadeploy process run alongside others.
type started struct {
	pid int
	result
}

// runAtOnce starts one hadeploy per argument list at the same moment and
// waits for them all.
func runAtOnce(t *testing.T, argv ...[]string) []started {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	out := make([]started, len(argv))
	cmds := make([]*exec.Cmd, len(argv))
	bufs := make([][2]*bytes.Buffer, len(argv))
	for i, args := range argv {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = append(os.Environ(), "NO_COLOR=1", "HOME="+t.TempDir())
		bufs[i] = [2]*bytes.Buffer{{}, {}}
		cmd.Stdout, cmd.Stderr = bufs[i][0], bufs[i][1]
		cmds[i] = cmd
	}
	start := time.Now()
	for i, cmd := range cmds {
		if err := cmd.Start(); err != nil {
			t.Fatalf("hadeploy %v: %v", argv[i], err)
		}
		out[i].pid = cmd.Process.Pid
	}
	var wg sync.WaitGroup
	for i, cmd := range cmds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := cmd.Wait()
			r := result{stdout: bufs[i][0].String(), stderr: bufs[i][1].String(), took: time.Since(start), code: -1}
			var ee *exec.ExitError
			if err == nil {
				r.code = 0
			} else if errors.As(err, &ee) {
				r.code = ee.ExitCode()
			}
			sc := bufio.NewScanner(strings.NewReader(r.stdout))
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			for sc.Scan() {
				var e events.Event
				if json.Unmarshal(sc.Bytes(), &e) == nil && e.Type != "" {
					r.events = append(r.events, e)
				}
			}
			out[i].result = r
		}()
	}
	wg.Wait()
	for i, s := range out {
		t.Logf("hadeploy %s (pid %d) → exit %d in %s", strings.Join(argv[i], " "), s.pid, s.code, s.took.Round(time.Millisecond))
	}
	return out
}

// Three applies started at the same moment on the same hosts: exactly one
// proceeds, the other two are refused at once naming it, no host is left
// locked and the cluster converged. Then two with --lock-wait: the second
// waits for the first, and both succeed.
func testConcurrentApplies(t *testing.T) {
	// A real change, so the winner holds the lock for seconds (reloads,
	// rotation gates), well past the processes' start-up skew.
	heavy := variant(t, "weight-race", func(s string) string {
		return strings.Replace(s, "        - host: web2\n          weight: 1", "        - host: web2\n          weight: 4", 1)
	})
	args := []string{"apply", heavy, "--output", "json"}
	rs := runAtOnce(t, args, args, args)
	var winner *started
	for i := range rs {
		if rs[i].code == 0 {
			if winner != nil {
				t.Fatalf("two applies proceeded (pids %d and %d)", winner.pid, rs[i].pid)
			}
			winner = &rs[i]
		}
	}
	if winner == nil {
		for _, r := range rs {
			t.Logf("pid %d exit %d:\n%s", r.pid, r.code, tail(r.stderr))
		}
		t.Fatal("no apply proceeded")
	}
	if s := winner.summary(); s == nil || s.Failed || s.Changes == 0 {
		t.Errorf("the winner's summary: %+v", s)
	}
	holder := "pid=" + strconv.Itoa(winner.pid) + " cmd=apply"
	for _, r := range rs {
		if r.pid == winner.pid {
			continue
		}
		want(t, r.result, 1, "a losing apply")
		if !strings.Contains(r.stderr, "the cluster is locked by another run") || !strings.Contains(r.stderr, holder) {
			t.Errorf("pid %d: the lock error does not name the winner (%s):\n%s", r.pid, holder, r.stderr)
		}
		if r.took >= winner.took {
			t.Errorf("pid %d: refused after %s, once the winner was done (%s): it should fail at once", r.pid, r.took, winner.took)
		}
		for _, e := range r.events {
			if e.Type == events.EvStep && e.Status == events.StatusChanged {
				t.Errorf("pid %d: a refused apply changed %s/%s", r.pid, e.Host, e.Step)
			}
		}
	}
	for _, h := range []string{"web1", "web2", "lb1", "lb2"} {
		if out := inHost(t, h, "sh", "-c", "test -d /var/lib/hadeploy/lock && cat /var/lib/hadeploy/lock/info || echo free"); strings.TrimSpace(out) != "free" {
			t.Errorf("%s left locked: %s", h, out)
		}
	}
	want(t, run(t, "plan", heavy), 0, "plan after the race")

	// --lock-wait: both go back to the lab inventory, one after the other.
	args = []string{"apply", inv, "--lock-wait", "5m"}
	rs = runAtOnce(t, args, args)
	waited := 0
	for _, r := range rs {
		want(t, r.result, 0, "apply --lock-wait")
		if strings.Contains(r.stdout, "waiting up to") {
			waited++
		}
	}
	if waited != 1 {
		t.Errorf("%d of the two applies said they wait for the lock, want 1", waited)
	}
	want(t, run(t, "plan", inv), 0, "plan after apply --lock-wait")
}
