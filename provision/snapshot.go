package provision

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/facts"
	"github.com/hadeploy/hadeploy/shell"
)

// Where hadeploy keeps its state on each host: outside every include
// directory, so no daemon ever loads a backup.
const (
	StateRoot = "/var/lib/hadeploy"
	LockDir   = StateRoot + "/lock"
	RunsRoot  = "/var/backups/hadeploy"
)

// FileState is a file as found on the host.
type FileState struct {
	Exists  bool
	Content []byte
	Mode    uint32
	Owner   string
}

// ServiceState is a unit as found on the host.
type ServiceState struct {
	Active  string // active, inactive, failed, ...
	Enabled string // enabled, disabled, ... ("" when the unit is unknown)
}

// RunInfo is one run recorded on a host.
type RunInfo struct {
	ID     string
	Status string // running, ok, failed, rolled-back
	Meta   string // who, from where, command
}

// Snapshot is everything hadeploy needs to know about a host, read in one
// round trip: facts, managed files, packages, services, addresses, the lock
// and the run history.
type Snapshot struct {
	Facts    facts.Facts
	Files    map[string]FileState
	Packages map[string]bool
	Services map[string]ServiceState
	Addrs    []string // IPv4 addresses with prefix, all interfaces
	Runs     []RunInfo
	// Lock is "" when this call took (or found no) lock, else the holder's details.
	Lock string
	// LockTaken reports that this snapshot took the lock.
	LockTaken bool
	// OSErr says the host's OS has no row in the distro table (Facts then
	// has no Family). The runner refuses every host when one has it.
	OSErr error
}

// SnapshotScript reads paths, packages and services; with lockInfo set it also
// takes the cluster lock atomically (mkdir), expiring a lock older than
// staleMinutes.
func SnapshotScript(paths, packages, services []string, lockInfo string, staleMinutes int) *shell.Script {
	s := &shell.Script{}
	s.Raw(`echo "==os"; cat /etc/os-release 2>/dev/null; echo "==endos"`)
	// Shell builtins where they do (read, test, printf): every process a
	// snapshot forks costs each host a millisecond or more, on every command.
	s.Raw(`hn=; { read -r hn < /etc/hostname; } 2>/dev/null; printf '==hostname %s\n' "$hn"`)
	if len(paths) > 0 {
		// One stat for every mode and owner, then one base64 per file: a
		// process per file instead of three (a no-op apply is mostly these).
		ps := strings.Join(quoteAll(paths), " ")
		s.Raw(`stat -c '==mode %a %U:%G %n' ` + ps + ` 2>/dev/null`)
		s.Raw(`for p in ` + ps + `; do if [ -f "$p" ]; then printf '==file %s\n' "$p"; base64 -w0 "$p"; echo; else printf '==nofile %s\n' "$p"; fi; done`)
	}
	// One dpkg-query (or rpm) and one systemctl for all packages and units.
	pk := strings.Join(quoteAll(packages), " ")
	s.Raw(`if command -v dpkg-query >/dev/null 2>&1; then dpkg-query -W -f='==pkg ${Package} ${Status}\n' ` + pk + ` 2>/dev/null; else rpm -q --qf '==pkg %{NAME} install ok installed\n' ` + pk + ` 2>/dev/null | grep '^==pkg'; fi`)
	if len(services) > 0 {
		s.Raw(`systemctl show -p Id,ActiveState,UnitFileState ` + strings.Join(quoteAll(unitNames(services)), " ") + ` 2>/dev/null | sed 's/^/==unit /'`)
	}
	s.Raw(addrsCmd)
	s.Raw(facts.HAProxyVVCmd)
	s.Line(`for d in %s/*/; do [ -f "${d}status" ] || continue; st=; m=; { read -r st < "${d}status"; } 2>/dev/null; { read -r m < "${d}meta"; } 2>/dev/null; d=${d%%/}; printf '==run %%s %%s %%.300s\n' "${d##*/}" "$st" "$m"; done`, RunsRoot)
	if lockInfo != "" {
		s.Line(`[ -d %s ] || mkdir -p %s`, StateRoot, StateRoot)
		breakLock(s, `[ -n "$(find `+shell.Quote(LockDir)+` -maxdepth 0 -mmin +`+strconv.Itoa(staleMinutes)+` 2>/dev/null)" ]`,
			`echo "==lockexpired $(cat `+shell.Quote(LockDir+"/info")+` 2>/dev/null)"`)
		s.Line(`if mkdir %s 2>/dev/null; then printf '%%s\n' %s > %s/info; echo "==lock taken"; else printf '==lock held %%s\n' "$(cat %s/info 2>/dev/null)"; fi`, LockDir, lockInfo, LockDir, LockDir)
	} else {
		s.Line(`if [ -d %s ]; then printf '==lock held %%s\n' "$(cat %s/info 2>/dev/null)"; fi`, LockDir, LockDir)
	}
	return s
}

// lockBreaker is a second mkdir mutex, held while a lock that is not ours
// is checked and removed (stale, or left by a dead process). Checking and
// removing are two steps: without it, two runs breaking the same lock at
// once could have the second remove the lock the first has just taken in
// its place, and both would hold it.
const lockBreaker = LockDir + ".break"

// breakLock removes the lock if cond (shell, already quoted) holds, running
// then (shell, already quoted) first. A run that finds someone else
// breaking it leaves the lock alone, and finds it held.
func breakLock(s *shell.Script, cond, then string) {
	// A breaker killed between its mkdir and rmdir (microseconds) must not
	// block breaking forever.
	s.Line(`if [ -d %s ] && [ -n "$(find %s -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rmdir %s 2>/dev/null; fi`, lockBreaker, lockBreaker, lockBreaker)
	s.Raw(`if [ -d ` + shell.Quote(LockDir) + ` ] && mkdir ` + shell.Quote(lockBreaker) + ` 2>/dev/null; then if ` + cond + `; then ` + then + `; rm -rf ` + shell.Quote(LockDir) + `; fi; rmdir ` + shell.Quote(lockBreaker) + `; fi`)
}

// TakeOverScript removes the lock if its info is still info (a holder known
// to be dead).
func TakeOverScript(info string) *shell.Script {
	s := &shell.Script{}
	breakLock(s, `[ "$(cat `+shell.Quote(LockDir+"/info")+` 2>/dev/null)" = `+shell.Quote(info)+` ]`, `:`)
	return s
}

// ParseSnapshot reads what SnapshotScript printed.
func ParseSnapshot(out []byte) (*Snapshot, error) {
	sn := &Snapshot{Files: map[string]FileState{}, Packages: map[string]bool{}, Services: map[string]ServiceState{}}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	var osr bytes.Buffer
	inOS := false
	block := map[string]string{}
	modes := map[string]FileState{} // "==mode" lines come before the files
	flush := func() {
		if id := strings.TrimSuffix(block["Id"], ".service"); id != "" {
			sn.Services[id] = ServiceState{Active: block["ActiveState"], Enabled: block["UnitFileState"]}
		}
		block = map[string]string{}
	}
	for sc.Scan() {
		line := sc.Text()
		if inOS {
			if line == "==endos" {
				inOS = false
				continue
			}
			osr.WriteString(line + "\n")
			continue
		}
		tag, rest, _ := strings.Cut(line, " ")
		switch tag {
		case "==os":
			inOS = true
		case "==hostname":
			sn.Facts.Hostname = rest
		case "==mode":
			f := strings.SplitN(rest, " ", 3)
			if len(f) != 3 {
				return nil, fmt.Errorf("snapshot: malformed mode record %q", line)
			}
			m, _ := strconv.ParseUint(f[0], 8, 32)
			modes[f[2]] = FileState{Mode: uint32(m), Owner: f[1]}
		case "==file":
			if rest == "" || !sc.Scan() {
				return nil, fmt.Errorf("snapshot: malformed file record %q", line)
			}
			data, err := base64.StdEncoding.DecodeString(sc.Text())
			if err != nil {
				return nil, fmt.Errorf("snapshot: %s: %w", rest, err)
			}
			m, ok := modes[rest]
			if !ok {
				return nil, fmt.Errorf("snapshot: %s: no mode and owner read (created while it was read? run again)", rest)
			}
			sn.Files[rest] = FileState{Exists: true, Content: data, Mode: m.Mode, Owner: m.Owner}
		case "==nofile":
			sn.Files[rest] = FileState{}
		case "==pkg":
			n, st, _ := strings.Cut(rest, " ")
			sn.Packages[n] = strings.HasSuffix(st, "ok installed")
		case "==unit":
			// systemctl show prints one block of KEY=VALUE lines per unit,
			// separated by empty lines.
			if rest == "" {
				flush()
				continue
			}
			k, v, _ := strings.Cut(rest, "=")
			block[k] = v
		case "==addr":
			sn.Addrs = append(sn.Addrs, rest)
		case "==haproxy":
			sn.Facts.HAProxyVersion, sn.Facts.HAProxyServices = facts.ParseHAProxyVV(rest)
		case "==run":
			f := strings.SplitN(rest, " ", 3)
			r := RunInfo{ID: f[0]}
			if len(f) > 1 {
				r.Status = f[1]
			}
			if len(f) > 2 {
				r.Meta = strings.TrimSpace(f[2])
			}
			sn.Runs = append(sn.Runs, r)
		case "==lock":
			st, who, _ := strings.Cut(rest, " ")
			if st == "taken" {
				sn.LockTaken = true
			} else {
				sn.Lock = who
				if who == "" {
					sn.Lock = "(no details)"
				}
			}
		}
	}
	flush()
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	// An unknown OS is not a failed read: the runner names every such host
	// at once, after reading all of them, before it changes any.
	f, err := facts.ParseOSRelease(osr.Bytes())
	f.Hostname = sn.Facts.Hostname
	f.HAProxyVersion, f.HAProxyServices = sn.Facts.HAProxyVersion, sn.Facts.HAProxyServices
	sn.Facts, sn.OSErr = f, err
	return sn, nil
}

// addrsCmd lists every IPv4 address with its prefix, one "==addr" line each.
const addrsCmd = `ip -o -4 addr show 2>/dev/null | while read -r _ _ _ a _; do echo "==addr $a"; done`

// HoldsAddr reports whether the host has addr (without prefix) on any interface.
func (sn *Snapshot) HoldsAddr(addr string) bool {
	for _, a := range sn.Addrs {
		if ip, _, _ := strings.Cut(a, "/"); ip == addr {
			return true
		}
	}
	return false
}

func unitNames(services []string) []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s + ".service"
	}
	return out
}

// parseAddrs reads the "==addr" lines addrsCmd prints.
func parseAddrs(out []byte) []string {
	var addrs []string
	for _, l := range strings.Split(string(out), "\n") {
		if a, ok := strings.CutPrefix(l, "==addr "); ok {
			addrs = append(addrs, a)
		}
	}
	return addrs
}
