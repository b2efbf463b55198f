package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/hadeploy/hadeploy/e2e/lab"
)

// The scale lab's package cache: an apt-cacher-ng the bench runs on the lab
// bridge with its own config, cache and log under the bench's temporary
// folder, so that 100 hosts installing the same packages read the mirror
// once (apt-cacher-ng fetches a file once and streams it to every client
// asking meanwhile). The hosts' apt points at it through lab.Spec.AptProxy;
// the lab's tinyproxy and the e2e suite's lab are not changed. Chosen over
// packages downloaded into the base image because it leaves the shared base
// image alone, caches the indexes (apt-get update) too, and keeps the
// hosts' apt exactly as in a true cold apply.

const (
	aptCacherBin = "apt-cacher-ng"
	// aptCachePort is not apt-cacher-ng's default 3142, so that a system
	// apt-cacher-ng (started by its package) never collides with it.
	aptCachePort = 3150
)

type aptCache struct {
	dir string
	cmd *exec.Cmd
}

// aptCacheURL is the proxy URL the scale lab's hosts use.
func aptCacheURL() string {
	return fmt.Sprintf("http://%s:%d", lab.BridgeAddr(lab.DefaultSubnet), aptCachePort)
}

// aptCacheConf renders acng.conf: listen on the bridge only, cache and logs
// in dir, foreground, no admin socket outside dir.
func aptCacheConf(dir, bind string) string {
	return fmt.Sprintf(`# Written by go run ./bench: the scale lab's package cache.
CacheDir: %[1]s/cache
LogDir: %[1]s/log
SupportDir: /usr/lib/apt-cacher-ng
Port: %[2]d
BindAddress: %[3]s
ForeGround: 1
PidFile: %[1]s/run/pid
SocketPath: %[1]s/run/socket
ExThreshold: 4
`, dir, aptCachePort, bind)
}

func (b *bench) cacheDir() string { return filepath.Join(b.tmp, "apt-cacher-ng") }

// startCache starts apt-cacher-ng on bind (the lab bridge's address: the
// lab must be up) with the bench's cache folder, which survives restarts
// within one run.
func (b *bench) startCache(ctx context.Context, bind string) error {
	dir := b.cacheDir()
	for _, d := range []string{"conf", "cache", "log", "run"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "acng.conf"), []byte(aptCacheConf(dir, bind)), 0o644); err != nil {
		return err
	}
	out, err := os.OpenFile(filepath.Join(dir, "log", "stderr.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd := exec.Command(aptCacherBin, "-c", filepath.Join(dir, "conf"))
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", aptCacherBin, err)
	}
	b.cache = &aptCache{dir: dir, cmd: cmd}
	addr := net.JoinHostPort(bind, strconv.Itoa(aptCachePort))
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			logf("package cache http://%s up (apt-cacher-ng, cache %s)", addr, filepath.Join(dir, "cache"))
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			b.stopCache()
			data, _ := os.ReadFile(filepath.Join(dir, "log", "stderr.log"))
			return fmt.Errorf("%s did not listen on %s: %v\n%s", aptCacherBin, addr, err, tailStr(string(data)))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// stopCache stops the bench's apt-cacher-ng, if it runs.
func (b *bench) stopCache() {
	if b.cache == nil {
		return
	}
	p := b.cache.cmd.Process
	_ = p.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cache.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = p.Kill()
		<-done
	}
	b.cache = nil
}

// cacheTraffic is what apt-cacher-ng's transfer log says: bytes fetched
// from the mirror (In) and bytes served to the hosts (Out).
type cacheTraffic struct{ In, Out int64 }

func (a cacheTraffic) sub(c cacheTraffic) cacheTraffic {
	return cacheTraffic{a.In - c.In, a.Out - c.Out}
}

// parseCacheLog sums apt-cacher.log lines "TIME|I|BYTES|CLIENT|PATH" (I:
// from upstream, O: to a client).
func parseCacheLog(s string) cacheTraffic {
	var t cacheTraffic
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "|")
		if len(f) < 3 {
			continue
		}
		n, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[1] {
		case "I":
			t.In += n
		case "O":
			t.Out += n
		}
	}
	return t
}

// cacheTraffic reads the transfer log so far (zero without a cache).
func (b *bench) cacheTraffic() cacheTraffic {
	data, err := os.ReadFile(filepath.Join(b.cacheDir(), "log", "apt-cacher.log"))
	if err != nil {
		return cacheTraffic{}
	}
	return parseCacheLog(string(data))
}
