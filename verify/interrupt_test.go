package verify

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/inventory"
	"github.com/hadeploy/hadeploy/shell"
	"github.com/hadeploy/hadeploy/transport"
)

// stillFleet answers every program at once and keeps the VIP on lb1.
type stillFleet struct{}

func (stillFleet) Exec(ctx context.Context, host string, s *shell.Script) (transport.Result, error) {
	return transport.Result{}, ctx.Err()
}
func (stillFleet) Facts(string) (facts.Facts, bool) { return facts.Facts{Family: "debian"}, true }
func (stillFleet) Holders(ctx context.Context, addr string, hosts []*inventory.Host) ([]string, error) {
	return []string{"lb1"}, ctx.Err()
}

func labCluster(t *testing.T) *inventory.Cluster {
	c, err := inventory.Load("../e2e/lab-cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Ctrl-C in the middle of a failover scenario: it stops within a second
// (it used to sleep through 4 s of fixed pauses), restarting what it stopped.
func TestFailoverStopsWithinASecondOfCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	f := &Failover{Cluster: labCluster(t), Runner: stillFleet{}, Rate: 5}
	t0 := time.Now()
	_, err := f.Run(ctx)
	if took := time.Since(t0) - 300*time.Millisecond; took > time.Second {
		t.Errorf("failover-test went on for %s after the cancel", took.Round(time.Millisecond))
	}
	if err == nil {
		t.Error("a cancelled failover-test reported no error")
	}
}

// Ctrl-C while verify waits on a web host that never answers: it stops
// within a second.
func TestVerifyStopsWithinASecondOfCancel(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	c := labCluster(t)
	c.Web.Port, _ = strconv.Atoi(port)
	for _, h := range c.Hosts {
		h.Address = "127.0.0.1"
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(300*time.Millisecond, cancel)
	v := &Verifier{Cluster: c, Runner: stillFleet{}, Hosts: c.Hosts, HTTP: NewHTTPClient(time.Minute)}
	t0 := time.Now()
	v.Run(ctx)
	if took := time.Since(t0) - 300*time.Millisecond; took > time.Second {
		t.Errorf("verify went on for %s after the cancel", took.Round(time.Millisecond))
	}
}
