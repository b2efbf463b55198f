package provision

import (
	"os/exec"
	"strings"
	"testing"
)

var hostileValues = []string{
	"a'b", "'", "''", `"`, `a"b'c`, "$(id)", "`x`", "${HOME}", "$HOME", "; rm -rf /", "a && b || c",
	"line1\nline2", "\n", "trailing\n", "*", "?", "[a-z]*", "~", "~root", "héllo wörld ✓ 日本",
	"", " ", "  two  spaces ", "\t", "--", "-n", "-e", "%s", "%%", `\`, `\\n`, "a\\'b", "!", "#not a comment",
	"<in >out 2>&1", "|", "&", "(sub)", "{a,b}", "x=y", "\x01\x7f",
}

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
