package transport

import (
	"os/exec"
	"strings"
	"testing"
)

// Quote and Join survive a POSIX shell byte for byte. The remote end is a
// shell too: package transport checks the same values over a real sshd.
func TestQuoteRoundTrip(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	for _, v := range hostileValues {
		out, err := exec.Command(sh, "-c", "printf %s "+Quote(v)).Output()
		if err != nil || string(out) != v {
			t.Errorf("printf %%s Quote(%q) = %q, %v", v, out, err)
		}
	}
	out, err := exec.Command(sh, "-c", "printf '%s\\0' "+Join(hostileValues...)).Output()
	if got := strings.Split(string(out), "\x00"); err != nil || len(got) != len(hostileValues)+1 || strings.Join(got[:len(got)-1], "\x00") != strings.Join(hostileValues, "\x00") {
		t.Errorf("Join round trip: %q, %v", out, err)
	}
}
