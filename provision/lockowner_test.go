package provision

import (
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
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

// Issue: a lock held by "0@vm" named a uid where the operator expects a
// user. The owner is user@host with the user's name, whatever the
// environment says.
func TestOwnerNamesTheUser(t *testing.T) {
	host, _ := os.Hostname()
	u, err := user.Current()
	if err != nil {
		t.Skipf("no passwd entry for this user: %v", err)
	}
	t.Setenv("USER", "")
	t.Setenv("LOGNAME", "")
	want := u.Username + "@" + host + " pid=" + strconv.Itoa(os.Getpid()) + " cmd=apply"
	if got := Owner("apply"); got != want {
		t.Errorf("Owner = %q, want %q", got, want)
	}

	// Without a passwd entry: $USER, then $LOGNAME, then the uid.
	defer func(f func() (*user.User, error)) { currentUser = f }(currentUser)
	currentUser = func() (*user.User, error) { return nil, user.UnknownUserIdError(os.Getuid()) }
	for _, c := range []struct{ user, logname, want string }{
		{"alice", "bob", "alice"},
		{"", "bob", "bob"},
		{"", "", strconv.Itoa(os.Getuid())},
	} {
		t.Setenv("USER", c.user)
		t.Setenv("LOGNAME", c.logname)
		if got := Owner("apply"); !strings.HasPrefix(got, c.want+"@"+host+" ") {
			t.Errorf("USER=%q LOGNAME=%q: Owner = %q, want %s@%s", c.user, c.logname, got, c.want, host)
		}
	}
}
