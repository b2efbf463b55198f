package verify

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// chromiumBin finds Debian's chromium (.ci/setup installs it) or skips.
func chromiumBin(t *testing.T) string {
	for _, n := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Skip("no chromium or chromium-browser on PATH: the report is not rendered in a browser (apt-get install chromium)")
	return ""
}

// headless runs chromium on the page with a fresh profile. The flags let it
// run as root without a sandbox or GPU, and keep it off the network: any
// host name it tried to resolve would fail, so the page has to stand alone.
func headless(t *testing.T, bin, page string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	base := []string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
		"--host-resolver-rules=MAP * ~NOTFOUND", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + t.TempDir(), "--window-size=1200,1600"}
	cmd := exec.CommandContext(ctx, bin, append(append(base, args...), "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, stderr.String())
	}
	return stdout.Bytes()
}

// The page as a browser shows it: Chromium's DOM has one request element
// per request, and the screenshot is a picture, not a blank page, with the
// red and green of the marks in it. HADEPLOY_REPORT_KEEP=DIR keeps the page
// and the screenshot there to look at.
func TestReportInChromium(t *testing.T) {
	bin := chromiumBin(t)
	dir := t.TempDir()
	if keep := os.Getenv("HADEPLOY_REPORT_KEEP"); keep != "" {
		dir = keep
	}
	rs := threeScenarios()
	requests, failed := 0, 0
	for _, r := range rs {
		requests += r.Requests
		failed += r.Failed
	}
	page := filepath.Join(dir, "failover-report.html")
	if err := os.WriteFile(page, []byte(render(t, "lab", rs)), 0o644); err != nil {
		t.Fatal(err)
	}

	// The DOM after parsing, serialized by the browser.
	dom := headless(t, bin, page, "--dump-dom")
	reqs := regexp.MustCompile(`<rect class="req (ok|failed)"`).FindAll(dom, -1)
	fails := regexp.MustCompile(`<rect class="req failed"`).FindAll(dom, -1)
	if len(reqs) != requests || len(fails) != failed {
		t.Errorf("chromium's DOM has %d request marks (%d failed), want %d (%d failed)", len(reqs), len(fails), requests, failed)
	}

	shot := filepath.Join(dir, "failover-report.png")
	headless(t, bin, page, "--screenshot="+shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("the screenshot is no PNG: %v", err)
	}
	b := img.Bounds()
	var ink, red, green int
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r32, g32, b32, _ := img.At(x, y).RGBA()
			r, g, bl := r32>>8, g32>>8, b32>>8
			if r < 250 || g < 250 || bl < 250 {
				ink++
			}
			// The marks' #e0262b and #1a9e4b; nothing else on the page is
			// this red or this green but the legend's two swatches.
			if r > 200 && g < 70 && bl < 70 {
				red++
			}
			if g > 130 && r < 60 && bl < 100 {
				green++
			}
		}
	}
	total := b.Dx() * b.Dy()
	t.Logf("screenshot %dx%d: %.1f%% not white, %d red and %d green pixels; %d marks (%d failed) in the DOM",
		b.Dx(), b.Dy(), 100*float64(ink)/float64(total), red, green, len(reqs), len(fails))
	if float64(ink) < 0.02*float64(total) {
		t.Errorf("the screenshot is blank: %d of %d pixels not white", ink, total)
	}
	// Every mark is 3x16 whole pixels and none overlap here: 90% of that
	// area proves the marks themselves were painted, not just the legend.
	mark := markWidth * markHeight
	if want := 9 * failed * mark / 10; red < want {
		t.Errorf("%d red pixels, want at least %d for %d failed requests", red, want, failed)
	}
	if want := 9 * (requests - failed) * mark / 10; green < want {
		t.Errorf("%d green pixels, want at least %d for %d answered requests", green, want, requests-failed)
	}
}
