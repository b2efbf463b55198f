package lab

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// MirrorHosts are the only sites the lab proxy lets hosts reach.
var MirrorHosts = []string{"deb.debian.org"}

// renderProxyConf renders tinyproxy.conf: listen on the bridge address only,
// accept the lab subnet only, no upstream, and (with the filter file) reach
// only the Debian mirror.
func renderProxyConf(subnet netip.Prefix, confDir string) string {
	j := func(f string) string { return confDir + "/" + f }
	var b strings.Builder
	fmt.Fprintf(&b, "# Written by hadeploy lab: the lab hosts' only way to the Debian mirror.\n")
	fmt.Fprintf(&b, "Port %d\n", ProxyPort)
	fmt.Fprintf(&b, "Listen %s\n", BridgeAddr(subnet))
	fmt.Fprintf(&b, "Allow %s\n", subnet.Masked())
	fmt.Fprintf(&b, "Timeout 600\n")
	fmt.Fprintf(&b, "MaxClients 64\n")
	fmt.Fprintf(&b, "PidFile %q\n", j("tinyproxy.pid"))
	fmt.Fprintf(&b, "LogFile %q\n", j("logs/tinyproxy.log"))
	fmt.Fprintf(&b, "LogLevel Info\n")
	fmt.Fprintf(&b, "DisableViaHeader Yes\n")
	fmt.Fprintf(&b, "Filter %q\n", j("tinyproxy.filter"))
	fmt.Fprintf(&b, "FilterType ere\n")
	fmt.Fprintf(&b, "FilterDefaultDeny Yes\n")
	fmt.Fprintf(&b, "ConnectPort 443\n")
	return b.String()
}

// renderProxyFilter renders the whitelist of mirror domains.
func renderProxyFilter(hosts []string) string {
	var b strings.Builder
	for _, h := range hosts {
		fmt.Fprintf(&b, "^%s$\n", regexp.QuoteMeta(h))
	}
	return b.String()
}

// aptProxyConf is the content of /etc/apt/apt.conf.d/01proxy inside each
// host: the lab's tinyproxy, or proxy (Spec.AptProxy) when set.
func aptProxyConf(subnet netip.Prefix, proxy string) string {
	if proxy == "" {
		proxy = fmt.Sprintf("http://%s:%d", BridgeAddr(subnet), ProxyPort)
	}
	return fmt.Sprintf("Acquire::http::Proxy %q;\n", proxy)
}

// proxyAlive reports whether pid is our tinyproxy (running with our config).
func proxyAlive(pid int) bool {
	if pid <= 0 || !pidAlive(pid) {
		return false
	}
	args := procCmdline(pid)
	return isCommand(args, "tinyproxy") && containsArg(args, proxyConfPath())
}

// findProxyPIDs returns the pids of tinyproxy processes using our config.
func findProxyPIDs(known ...int) []int {
	seen := map[int]bool{}
	var out []int
	add := func(pid int) {
		if !seen[pid] && proxyAlive(pid) {
			seen[pid] = true
			out = append(out, pid)
		}
	}
	for _, p := range known {
		add(p)
	}
	if b, err := os.ReadFile(proxyPidPath()); err == nil {
		if p, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			add(p)
		}
	}
	for _, p := range allPIDs() {
		add(p)
	}
	return out
}

// ensureProxy writes the tinyproxy config and starts tinyproxy if it is not
// running already. It returns the pid.
func ensureProxy(ctx context.Context, subnet netip.Prefix, known int, log io.Writer) (int, error) {
	conf := renderProxyConf(subnet, StateDir)
	filter := renderProxyFilter(MirrorHosts)
	old, _ := os.ReadFile(proxyConfPath())
	oldFilter, _ := os.ReadFile(proxyFilterPath())
	unchanged := string(old) == conf && string(oldFilter) == filter
	pids := findProxyPIDs(known)
	if unchanged && len(pids) == 1 {
		return pids[0], nil
	}
	for _, p := range pids { // stale config or duplicates: restart
		stopProcess(p, syscall.SIGTERM, 5*time.Second)
	}
	if err := writeFile(proxyConfPath(), []byte(conf), 0o644); err != nil {
		return 0, err
	}
	if err := writeFile(proxyFilterPath(), []byte(filter), 0o644); err != nil {
		return 0, err
	}
	bin, err := lookCmd("tinyproxy")
	if err != nil {
		return 0, err
	}
	if err := os.MkdirAll(logsDir(), 0o700); err != nil {
		return 0, err
	}
	for _, f := range []string{proxyLogPath(), proxyLogPath() + ".stderr"} {
		_ = os.Rename(f, f+".1") // keep one older generation
	}
	out, err := os.OpenFile(proxyLogPath()+".stderr", os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return 0, err
	}
	defer out.Close()
	// -d: stay in the foreground so we know the pid; Setsid detaches it from us.
	cmd := exec.Command(bin, "-d", "-c", proxyConfPath())
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("lab: start tinyproxy: %w", err)
	}
	pid := cmd.Process.Pid
	go cmd.Wait() // reap it if it dies while we run
	addr := net.JoinHostPort(BridgeAddr(subnet).String(), strconv.Itoa(ProxyPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			break
		}
		if !pidAlive(pid) || time.Now().After(deadline) || ctx.Err() != nil {
			stopProcess(pid, syscall.SIGTERM, 2*time.Second)
			return 0, fmt.Errorf("lab: tinyproxy did not listen on %s: %v\n%s", addr, err, tailFile(proxyLogPath()+".stderr", 10))
		}
		time.Sleep(100 * time.Millisecond)
	}
	fmt.Fprintf(log, "lab: proxy http://%s for the hosts (mirror only), log %s\n", addr, proxyLogPath())
	return pid, nil
}
