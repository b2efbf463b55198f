package inventory

import (
	"fmt"
	"strings"
)

// check applies defaults and every validation rule to c.
type check struct {
	*decoder
	c *Cluster

	// Built on first use, so that big inventories stay linear.
	hostIdx    map[string]*Host
	backendIdx map[string]*Backend
	webList    string
	backList   string
}

// maxListed caps how many names a message lists.
const maxListed = 20

// nameList joins names, listing at most maxListed of them.
func nameList(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	if len(names) > maxListed {
		return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
	}
	return strings.Join(names, ", ")
}

// host is c.Host with an index.
func (k *check) host(name string) *Host {
	if k.hostIdx == nil {
		k.hostIdx = map[string]*Host{}
		for _, h := range k.c.Hosts {
			if _, ok := k.hostIdx[h.Name]; !ok {
				k.hostIdx[h.Name] = h
			}
		}
	}
	return k.hostIdx[name]
}

// backend is c.Backend with an index (built once the backends are final).
func (k *check) backend(name string) *Backend {
	if k.backendIdx == nil {
		k.backendIdx = map[string]*Backend{}
		for _, b := range k.c.HAProxy.Backends {
			if _, ok := k.backendIdx[b.Name]; !ok {
				k.backendIdx[b.Name] = b
			}
		}
	}
	return k.backendIdx[name]
}

func (k *check) path(x any, fallback string) string {
	if p, ok := k.paths[x]; ok {
		return p
	}
	return fallback
}

// intField applies a default when the field is absent and checks the range
// when it was given. It reports whether the value is usable.
func (k *check) intField(path string, v *int, def, lo, hi int, why string) bool {
	if !k.has(path) {
		if k.bad[path] {
			*v = def
			return false
		}
		*v = def
		return true
	}
	if *v < lo || *v > hi {
		msg := fmt.Sprintf("must be between %d and %d, got %d", lo, hi, *v)
		if why != "" {
			msg += " (" + why + ")"
		}
		k.errf(path, "%s", msg)
		return false
	}
	return true
}

// strField applies a default when the field is absent; it reports whether a
// value (given or default) is there to check.
func (k *check) strField(path string, v *string, def string) bool {
	if !k.has(path) {
		if *v == "" {
			*v = def
		}
		return !k.bad[path] && *v != ""
	}
	return true
}

func (k *check) run() {
	c := k.c
	k.checkName()
	k.checkSSH()
	k.checkHosts()
	k.checkVIP()
	k.checkVRRP()
	k.checkWeb()
	k.checkHAProxy()
	k.checkTime()
	k.intField("keep_backups", &c.Backups, DefaultKeepBackups, 1, 100, "")
}

// claim records that path uses key, unless an earlier path already did:
// then it returns that one, for a "already used by" message.
func claim(seen map[string]string, key, path string) (string, bool) {
	if prev, dup := seen[key]; dup {
		return prev, true
	}
	seen[key] = path
	return "", false
}
