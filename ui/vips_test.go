package ui

import (
	"strings"
	"testing"

	"github.com/hadeploy/hadeploy/status"
)

// Active-active: the top line names each VIP's holder (a split one plainly),
// and each lb's second instance has its own row.
func TestStatusTextTwoVIPs(t *testing.T) {
	rep := &status.Report{Cluster: "aa", File: "aa.yaml", VIP: "10.0.0.100", Holders: []string{"lb1"},
		VIPs: []status.VIPHolders{{VIP: "10.0.0.100", Holders: []string{"lb1"}}, {VIP: "10.0.0.101", Holders: []string{"lb1", "lb2"}}},
		LBs: []status.LB{
			{Host: "lb1", VIP: "held", State: "MASTER", Priority: 100, Base: 100, Configured: 100,
				Instances: []status.Instance{{Instance: "VI_48", VIP: "10.0.0.101", Held: "held", State: "MASTER", Priority: 80, Base: 80, Configured: 80}}},
			{Host: "lb2", VIP: "free", State: "BACKUP", Priority: 80, Base: 80, Configured: 80,
				Instances: []status.Instance{{Instance: "VI_48", VIP: "10.0.0.101", Held: "held", State: "MASTER", Priority: 100, Base: 100, Configured: 100}}}}}
	got := StatusText(rep, false)
	for _, want := range []string{
		"cluster aa (aa.yaml): VIP 10.0.0.100 on lb1; VIP 10.0.0.101 held by lb1, lb2: SPLIT BRAIN\n",
		"lb1 10.0.0.101  MASTER  80        held",
		"lb2 10.0.0.101  MASTER  100       held",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("lacks %q:\n%s", want, got)
		}
	}
}
