package provision

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/shell"
)

// runLocal runs a remote program on this machine's sh with hadeploy's state
// folders moved under dir.
func runLocal(t *testing.T, dir string, s *shell.Script) string {
	t.Helper()
	out, err := shLocal(dir, s)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	return out
}

func shLocal(dir string, s *shell.Script) (string, error) {
	prog := strings.NewReplacer(StateRoot, dir+"/state", RunsRoot, dir+"/backups").Replace(s.String())
	out, err := exec.Command("sh", "-c", prog).CombinedOutput()
	return string(out), err
}

// The lock programs on a real shell: mkdir takes it once, a release or
// unlock with someone else's info leaves it, ours removes it. The info is
// quoted: the shell never runs what it holds.
func TestLockScriptsOnARealShell(t *testing.T) {
	dir := t.TempDir()
	lock := func(info string) *shell.Script {
		return SnapshotScript(nil, []string{"hadeploy-no-such-package"}, nil, info, 60)
	}
	mine := `run R1 by o'brien@here pid=1 cmd=apply since $(touch ` + dir + `/pwned)`
	other := "run R2 by bob@there pid=2 cmd=apply since 2026"
	info := filepath.Join(dir, "state/lock/info")

	if out := runLocal(t, dir, lock(mine)); !strings.Contains(out, "==lock taken") {
		t.Fatalf("first lock not taken:\n%s", out)
	}
	if b, _ := os.ReadFile(info); string(b) != mine+"\n" {
		t.Errorf("lock info %q, want %q", b, mine)
	}
	if out := runLocal(t, dir, lock(other)); !strings.Contains(out, "==lock held "+mine+"\n") {
		t.Errorf("second lock should find the first's:\n%s", out)
	}
	runLocal(t, dir, ReleaseScript("R2", "", 5, false, other))
	runLocal(t, dir, UnlockScript(other))
	if _, err := os.Stat(info); err != nil {
		t.Fatal("a release with another run's info removed the lock")
	}
	runLocal(t, dir, ReleaseScript("R1", "", 5, false, mine))
	if _, err := os.Stat(filepath.Dir(info)); !os.IsNotExist(err) {
		t.Error("our release left our lock")
	}
	if _, err := os.Stat(filepath.Join(dir, "pwned")); err == nil {
		t.Error("the lock info was run by the shell")
	}

	// A stale lock is broken and taken; a dead holder's is taken over only
	// if it is still the dead one's.
	runLocal(t, dir, lock(other))
	old := time.Now().Add(-2 * time.Hour)
	os.Chtimes(filepath.Dir(info), old, old)
	if out := runLocal(t, dir, lock(mine)); !strings.Contains(out, "==lockexpired "+other) || !strings.Contains(out, "==lock taken") {
		t.Errorf("a stale lock was not broken and taken:\n%s", out)
	}
	runLocal(t, dir, TakeOverScript(other))
	if b, _ := os.ReadFile(info); string(b) != mine+"\n" {
		t.Errorf("taking over a dead holder's lock removed a live one: info %q", b)
	}
	runLocal(t, dir, TakeOverScript(mine))
	if _, err := os.Stat(filepath.Dir(info)); !os.IsNotExist(err) {
		t.Error("the dead holder's lock was not removed")
	}
	// While someone else is breaking the lock, a run leaves it alone.
	runLocal(t, dir, lock(other))
	os.Chtimes(filepath.Dir(info), old, old)
	os.Mkdir(filepath.Join(dir, "state/lock.break"), 0o755)
	if out := runLocal(t, dir, lock(mine)); !strings.Contains(out, "==lock held "+other) {
		t.Errorf("a stale lock being broken by another run was broken again:\n%s", out)
	}
	os.Remove(filepath.Join(dir, "state/lock.break"))
	runLocal(t, dir, UnlockScript(other))

	// Many at once: exactly one takes it.
	var mu sync.Mutex
	taken := 0
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := shLocal(dir, lock("run R"+strconv.Itoa(i)))
			if err != nil {
				t.Errorf("%v\n%s", err, out)
			}
			if strings.Contains(out, "==lock taken") {
				mu.Lock()
				taken++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if taken != 1 {
		t.Errorf("%d of 10 concurrent programs took the lock, want 1", taken)
	}
}
