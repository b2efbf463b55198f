package provision

import (
	"encoding/base64"
	"fmt"
	"path"
	"strconv"
	"strings"

	"github.com/hadeploy/hadeploy/shell"
)

// RunDir is where one run keeps its backups, manifest and journal on a host.
func RunDir(runID string) string { return RunsRoot + "/" + runID }

// Exit codes of the step script, so the runner can say which stage failed.
const (
	exitValidate = 10
	exitCheck    = 11
	exitService  = 12
	exitActivate = 13
)

// InitRunScript creates the run's folder on first change.
func initRun(s *shell.Script, runID, meta string) {
	r := RunDir(runID)
	s.Line(`if [ ! -d %s ]; then mkdir -p %s && chmod 700 %s && printf '%%s\n' %s > %s/meta && echo running > %s/status; fi`, r, r+"/files", r, meta, r, r)
}

// PackagesScript installs missing packages and journals them.
func PackagesScript(runID, meta, pkgMgr string, pkgs []string) *shell.Script {
	s := &shell.Script{}
	initRun(s, runID, meta)
	r := RunDir(runID)
	for _, p := range pkgs {
		s.Line(`echo "pkg "%s >> %s/journal`, p, r)
	}
	args := strings.Join(quoteAll(pkgs), " ")
	switch pkgMgr {
	case "apt":
		s.Raw(`export DEBIAN_FRONTEND=noninteractive`)
		// A package run cut off mid-dpkg (a timeout, a lost connection)
		// leaves "dpkg was interrupted": finish it first, or no later run
		// could install anything.
		s.Raw(`out=$( { dpkg --configure -a && apt-get -q update && apt-get -q -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold install ` + args + `; } 2>&1 ) || { echo "==fail packages"; printf '%s\n' "$out" | tail -n 20; exit 1; }`)
	default:
		s.Raw(`out=$(` + shell.Quote(pkgMgr) + ` -y install ` + args + ` 2>&1) || { echo "==fail packages"; printf '%s\n' "$out" | tail -n 20; exit 1; }`)
	}
	return s
}

func quoteAll(xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = shell.Quote(x)
	}
	return out
}

// StepScript applies one step's plan in one round trip: back up, stage and
// validate every file, swap them in atomically, check the whole set, then
// enable/start/reload the services and wait until they really serve. Any
// failure restores this step's files and exits with a stage code.
func StepScript(runID, meta string, sp *StepPlan) *shell.Script {
	s := &shell.Script{}
	r := RunDir(runID)
	initRun(s, runID, meta)
	s.Line(`R=%s`, r)
	s.Line(`echo "begin "%s >> "$R/journal"`, sp.Step)

	// 1. Stage each file next to its target and validate the candidate with
	// the daemon's checker. 2. Back up the current file (once per run) and
	// swap the new one in. A step whose files are checked as a set (Apache,
	// rsyslog) swaps them all before its Check; otherwise each file goes live
	// right after its own validation, so a later file's validator (keepalived
	// -t) already sees the earlier ones (its check script).
	for i, f := range sp.Files {
		tmp := tmpPath(f.Path, i)
		s.Line(`mkdir -p %s`, path.Dir(f.Path))
		switch {
		case f.ContentChanged && f.Secret:
			// Created private: the chmod below comes after the content.
			s.Raw(`hadeploy_umask=$(umask); umask 077`)
			s.WriteBase64(tmp, f.New)
			s.Raw(`umask "$hadeploy_umask"`)
		case f.ContentChanged:
			s.WriteBase64(tmp, f.New)
		default:
			s.Line(`cp -p %s %s`, f.Path, tmp)
		}
		s.Line(`chmod %s %s && chown %s %s`, strconv.FormatUint(uint64(f.Mode), 8), tmp, f.Owner, tmp)
		if f.Validate != "" {
			cmd := fmt.Sprintf(f.Validate, shell.Quote(tmp))
			s.Raw(`if ! out=$(` + cmd + ` 2>&1); then rm -f ` + tmpList(sp) + `; echo "==fail validate ` + f.Path + `"; printf '%s\n' "$out"; exit ` + strconv.Itoa(exitValidate) + `; fi`)
		}
		if sp.Check == "" {
			swapIn(s, r, i, f)
		}
	}
	if sp.Check != "" {
		for i, f := range sp.Files {
			swapIn(s, r, i, f)
		}
	}
	// 3. Validate the installed set with the daemon's own checker.
	if sp.Check != "" && len(sp.Files) > 0 {
		s.Raw(`if ! out=$(` + sp.Check + ` 2>&1); then`)
		restoreFiles(s, sp, r)
		s.Raw(`  echo "==fail check"; printf '%s\n' "$out"; exit ` + strconv.Itoa(exitCheck) + `; fi`)
	}
	// 4. Activation (sysctl --system, …): journaled first, so a rollback
	// replays it once it restored the files; a failure restores them now.
	if sp.Activate != "" {
		s.Line(`echo "activate "%s >> "$R/journal"`, base64.StdEncoding.EncodeToString([]byte(sp.Activate)))
		s.Raw(`if ! out=$( { ` + sp.Activate + `; } 2>&1); then`)
		restoreFiles(s, sp, r)
		s.Raw(`  { ` + sp.Activate + `; } >/dev/null 2>&1; echo "==fail activate"; printf '%s\n' "$out"; exit ` + strconv.Itoa(exitActivate) + `; fi`)
	}
	// 5. Services: journal the state before, then enable/start/reload.
	for _, a := range sp.Services {
		s.Line(`echo "service "%s" $(systemctl is-active %s 2>/dev/null | head -n1) $(systemctl is-enabled %s 2>/dev/null | head -n1)" >> "$R/journal"`, a.Name, a.Name, a.Name)
		if a.Enable {
			s.Line(`systemctl enable -q %s 2>&1 || true`, a.Name)
		}
		if a.Action != "" {
			s.Line(`if ! out=$(systemctl %s %s 2>&1); then echo "==fail service %s: systemctl %s"; printf '%%s\n' "$out"; systemctl status --no-pager -n 15 %s 2>&1 | tail -n 15; exit %s; fi`,
				a.Action, a.Name, a.Name, a.Action, a.Name, strconv.Itoa(exitService))
		}
	}
	// 6. Wait until the daemons are active and own their socket (bounded).
	if sp.Changed() {
		var conds []string
		for _, a := range sp.Services {
			conds = append(conds, "systemctl is-active -q "+shell.Quote(a.Name))
		}
		if l := sp.Listen; l != nil {
			for _, p := range append([]int{l.Port}, l.Also...) {
				conds = append(conds, listeners(l.Proto, p)+" | grep -qF "+shell.Quote(`"`+l.Process+`"`))
			}
		}
		s.WaitUntil(conds, `echo "==fail service `+sp.Step+`: not serving after 10s"; `+statusOf(sp)+` exit `+strconv.Itoa(exitService))
	}
	s.Line(`echo "done "%s >> "$R/journal"`, sp.Step)
	return s
}

// swapIn backs the current file up (once per run, with its manifest line
// and journal entry) and renames the staged file over it.
func swapIn(s *shell.Script, r string, i int, f FileChange) {
	b := r + "/files" + f.Path
	s.Line(`if [ ! -e %s ] && ! grep -qxF %s "$R/journal"; then`, b, "file "+f.Path+" absent")
	s.Line(`  if [ -e %s ]; then mkdir -p %s && cp -a %s %s && printf '%%s %%s %%s\n' "$(sha256sum < %s | cut -d' ' -f1)" "$(stat -c '%%a %%U:%%G' %s)" %s >> "$R/manifest" && echo "file "%s" backup" >> "$R/journal"; else echo "file "%s" absent" >> "$R/journal"; fi`,
		f.Path, path.Dir(b), f.Path, b, f.Path, f.Path, f.Path, f.Path, f.Path)
	s.Raw(`fi`)
	s.Line(`sync %s 2>/dev/null; mv -f %s %s`, tmpPath(f.Path, i), tmpPath(f.Path, i), f.Path)
}

func statusOf(sp *StepPlan) string {
	var b strings.Builder
	for _, a := range sp.Services {
		b.WriteString("systemctl status --no-pager -n 10 " + shell.Quote(a.Name) + " 2>&1 | tail -n 12; ")
	}
	if l := sp.Listen; l != nil {
		for _, p := range append([]int{l.Port}, l.Also...) {
			b.WriteString("echo 'listening on port " + strconv.Itoa(p) + ":'; " + listeners(l.Proto, p) + "; ")
		}
	}
	return b.String()
}

// listeners lists the sockets listening on l's port, with their process.
// The protocol flag is not optional: without it ss also asks the kernel for
// socket families it may not support (inside containers, say) and prints
// "RTNETLINK answers: Invalid argument" on stderr, which reached the
// operator's error text. stderr is dropped too: the listing is on stdout.
func listeners(proto string, port int) string {
	flag := "-Hltnp"
	if proto == "udp" {
		flag = "-Hlunp"
	}
	return "ss " + flag + " " + shell.Quote("sport = :"+strconv.Itoa(port)) + " 2>/dev/null"
}

func restoreFiles(s *shell.Script, sp *StepPlan, r string) {
	for _, f := range sp.Files {
		b := r + "/files" + f.Path
		s.Line(`  if [ -e %s ]; then `+restoreCmd(b, f.Path)+`; else rm -f %s; fi`, b, f.Path)
	}
}

func tmpPath(p string, i int) string {
	return path.Dir(p) + "/." + path.Base(p) + ".hadeploy-new" + strconv.Itoa(i)
}

func tmpList(sp *StepPlan) string {
	var q []string
	for i, f := range sp.Files {
		q = append(q, shell.Quote(tmpPath(f.Path, i)))
	}
	return strings.Join(q, " ")
}
