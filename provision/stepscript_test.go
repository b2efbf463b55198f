package provision

import (
	"bytes"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/steps"
)

// Issue: a failed apply's error ended in "RTNETLINK answers: Invalid
// argument". It came from the socket listing printed when a daemon is not
// serving in time (`ss -Hlnp`: no protocol flag, so ss queried socket
// families this kernel rejects, on stderr, which failure() appends). The
// listing must keep its useful stdout and print nothing on stderr. Runs the
// generated snippet here, on this machine's ss.
func TestListenerListingPrintsNoNetlinkNoise(t *testing.T) {
	if _, err := exec.LookPath("ss"); err != nil {
		t.Skip("ss not installed")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	sp := &StepPlan{Step: "web", Listen: &steps.Listen{Proto: "tcp", Port: port, Process: "x"}}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("sh", "-c", statusOf(sp))
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v\n%s", err, stderr.String())
	}
	if stderr.Len() > 0 {
		t.Errorf("the listing printed on stderr (it would end up in the error text): %q", stderr.String())
	}
	if !strings.Contains(stdout.String(), "127.0.0.1:"+strconv.Itoa(port)) {
		t.Errorf("the listing lost the listener on port %d:\n%s", port, stdout.String())
	}
}
