package shell

import (
	"strings"
	"testing"
)

func TestScriptIsAllOrNothing(t *testing.T) {
	s := &Script{}
	s.Line("echo %s", "a'b; rm -rf /")
	got := s.String()
	if !strings.HasPrefix(got, "hadeploy_main() {\n") || !strings.HasSuffix(got, "}\nhadeploy_main\n") {
		t.Errorf("script not wrapped: %q", got)
	}
	if !strings.Contains(got, `echo 'a'"'"'b; rm -rf /'`) {
		t.Errorf("value not quoted: %q", got)
	}
}
