package provision

import (
	"os"
	"os/exec"
	"strconv"
	"testing"
)

func TestDeadLocalHolder(t *testing.T) {
	host, _ := os.Hostname()
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	dead := cmd.Process.Pid // exited and reaped
	cases := map[string]bool{
		"run R by root@" + host + " pid=" + strconv.Itoa(dead) + " cmd=apply since X":         true,
		"run R by root@" + host + " pid=" + strconv.Itoa(os.Getppid()) + " cmd=apply since X": false, // alive
		"run R by root@elsewhere pid=" + strconv.Itoa(dead) + " cmd=apply since X":            false, // other machine
		"run X by alice@laptop cmd=apply since 2026":                                          false,
		"": false,
	}
	for info, want := range cases {
		if got := deadLocalHolder(info); got != want {
			t.Errorf("deadLocalHolder(%q) = %v, want %v", info, got, want)
		}
	}
}
