package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// vipURL is the lab's VIP: the only address the availability client talks to.
const vipURL = "http://10.213.47.100/index.html"

// avail is what a client saw through the VIP during one operation.
type avail struct {
	Requests, Failed int
	LongestGap       time.Duration
}

func (a avail) String() string {
	return fmt.Sprintf("%d requests, %d failed, longest gap %.2f s", a.Requests, a.Failed, a.LongestGap.Seconds())
}

// availability results of the run, for the closing log line.
var (
	availMu  sync.Mutex
	availLog []string
)

// during runs op while a client sends about 20 requests a second through
// the VIP (1 s timeout each, new connection each, lab address only). The loop
// is bounded: it stops 0.5 s after op returns, and in any case after
// maxRequests or maxDuration.
func during(t *testing.T, name string, op func()) avail {
	t.Helper()
	return duringAccept(t, name, servedPage, op)
}

// servedPage: a web host's page, the only answer that counts as served.
func servedPage(resp *http.Response, body string) bool {
	return resp.StatusCode == 200 && strings.HasPrefix(body, "web")
}

// duringAccept is during with its own idea of a served answer (a redirect
// to HTTPS is one once redirect_http is on). The client follows nothing.
func duringAccept(t *testing.T, name string, served func(resp *http.Response, body string) bool, op func()) avail {
	t.Helper()
	const (
		rate        = 20
		maxRequests = 4000
		maxDuration = 3 * time.Minute
	)
	cl := &http.Client{Timeout: time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
		DialContext: (&net.Dialer{Timeout: time.Second}).DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ctx, cancel := context.WithTimeout(context.Background(), maxDuration)
	defer cancel()
	var a avail
	done := make(chan struct{})
	go func() {
		defer close(done)
		start := time.Now()
		last := start
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		for a.Requests < maxRequests {
			select {
			case <-ctx.Done():
				if gap := time.Since(last); gap > a.LongestGap {
					a.LongestGap = gap
				}
				return
			case <-tick.C:
			}
			a.Requests++
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, vipURL, nil)
			resp, err := cl.Do(req)
			ok := err == nil
			if err == nil {
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
				resp.Body.Close()
				ok = served(resp, string(b))
			}
			if !ok {
				if ctx.Err() == nil {
					a.Failed++
				} else {
					a.Requests--
				}
				continue
			}
			if gap := time.Since(last); gap > a.LongestGap {
				a.LongestGap = gap
			}
			last = time.Now()
		}
	}()
	time.Sleep(500 * time.Millisecond) // the client is running before op starts
	op()
	time.Sleep(500 * time.Millisecond)
	cancel()
	<-done
	t.Logf("availability during %s: %s", name, a)
	availMu.Lock()
	availLog = append(availLog, fmt.Sprintf("| %s | %d | %d | %.2f s |", name, a.Requests, a.Failed, a.LongestGap.Seconds()))
	availMu.Unlock()
	return a
}

// noFailures fails the test when the client saw a failed request.
func noFailures(t *testing.T, name string, a avail) {
	t.Helper()
	if a.Failed > 0 {
		t.Errorf("%s: %d of %d requests through the VIP failed (longest gap %.2f s); hadeploy must never cause a failed request", name, a.Failed, a.Requests, a.LongestGap.Seconds())
	}
}
