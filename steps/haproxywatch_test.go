package steps

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The watch script, run for real with stub systemctl and systemd-run: it
// reports haproxy's main process down when that exits, not when a process
// that is no longer haproxy's main one exits, and starts one watcher unit
// per main process.
func TestHAProxyWatchScript(t *testing.T) {
	for _, tool := range []string{"sh", "tail", "flock", "sleep"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("no %s here", tool)
		}
	}
	dir := t.TempDir()
	bin, state := filepath.Join(dir, "bin"), filepath.Join(dir, "state")
	down, mainPID, runs := filepath.Join(state, "haproxy-down"), filepath.Join(dir, "mainpid"), filepath.Join(dir, "systemd-run.args")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	stubs := map[string]string{
		// show -p MainPID --value prints the pid in mainpid; is-active fails.
		"systemctl":   "#!/bin/sh\ncase $1 in show) cat " + mainPID + ";; *) exit 3;; esac\n",
		"systemd-run": "#!/bin/sh\necho \"$@\" >> " + runs + "\n",
	}
	for n, s := range stubs {
		if err := os.WriteFile(filepath.Join(bin, n), []byte(s), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script, err := render("haproxy-watch.sh.tmpl", struct{ File, Dir, Unit, PollS string }{down, state, HAProxyWatchUnit, "0.05"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "haproxy-watch")
	if err := os.WriteFile(path, script, 0o755); err != nil {
		t.Fatal(err)
	}
	env := append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"))
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command(path, args...)
		cmd.Env = env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("haproxy-watch %v: %v\n%s", args, err, out)
		}
	}
	read := func(p string) string { b, _ := os.ReadFile(p); return strings.TrimSpace(string(b)) }
	haproxy := func() *exec.Cmd {
		c := exec.Command("sleep", "30")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c
	}
	waitFor := func(c *exec.Cmd) chan struct{} {
		done := make(chan struct{})
		go func() {
			cmd := exec.Command(path, "wait", itoa(c.Process.Pid))
			cmd.Env = env
			cmd.Run()
			close(done)
		}()
		return done
	}

	// start: 0, and a watcher unit named for the main process.
	h := haproxy()
	os.WriteFile(mainPID, []byte(itoa(h.Process.Pid)+"\n"), 0o644)
	run("start")
	if got := read(down); got != "0" {
		t.Errorf("after start: %q in the track file, want 0", got)
	}
	if got, want := read(runs), "--unit="+HAProxyWatchUnit+"-"+itoa(h.Process.Pid)+".service"; !strings.Contains(got, want) || !strings.HasSuffix(got, " wait "+itoa(h.Process.Pid)) {
		t.Errorf("systemd-run got %q, want %s … %s wait PID", got, want, path)
	}
	// The main process dies: 1.
	done := waitFor(h)
	h.Process.Kill()
	h.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the watcher did not return after its process died")
	}
	if got := read(down); got != "1" {
		t.Errorf("haproxy's main process died: %q in the track file, want 1", got)
	}
	// A process that is no longer haproxy's main one dies: nothing.
	os.WriteFile(down, []byte("0\n"), 0o644)
	old, cur := haproxy(), haproxy()
	os.WriteFile(mainPID, []byte(itoa(cur.Process.Pid)+"\n"), 0o644)
	done = waitFor(old)
	old.Process.Kill()
	old.Wait()
	<-done
	if got := read(down); got != "0" {
		t.Errorf("an old haproxy's watcher wrote %q while a new one runs, want 0 kept", got)
	}
}

func itoa(i int) string { return strconv.Itoa(i) }
