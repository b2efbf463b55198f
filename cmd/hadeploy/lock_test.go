package main

import (
	"strings"
	"testing"
	"time"
)

// Every command that takes the cluster lock has --lock-wait: it says who
// holds the lock, waits, then gives up with exit 1.
func TestLockWaitOnEveryLockingCommand(t *testing.T) {
	t.Setenv("NO_COLOR", "1")
	for _, cmd := range []string{"apply", "rollback", "failover-test"} {
		hosts := fakeLab(t)
		hosts["lb1"].SetLock("run X by alice@laptop pid=1 cmd=apply since 2026")
		t0 := time.Now()
		out, code := hadeploy(t, cmd, labInv, "--lock-wait", "300ms")
		if code != exitError || time.Since(t0) < 300*time.Millisecond {
			t.Errorf("%s --lock-wait 300ms on a locked cluster: exit %d after %s, want 1 after the wait", cmd, code, time.Since(t0))
		}
		if !strings.Contains(out, "held by run X by alice@laptop") || !strings.Contains(out, "waiting up to") {
			t.Errorf("%s: does not say who holds the lock while waiting:\n%s", cmd, out)
		}
	}
}
