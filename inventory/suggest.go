package inventory

import (
	"fmt"
	"strings"
)

// synonyms are names people reach for; a suggestion is made only when the
// target is a field of the mapping in question.
var synonyms = map[string][]string{
	"ip":               {"address"},
	"addr":             {"address"},
	"host":             {"address"},
	"hostname":         {"name", "address"},
	"role":             {"roles"},
	"vrid":             {"virtual_router_id"},
	"router_id":        {"virtual_router_id"},
	"password":         {"auth_pass"},
	"pass":             {"auth_pass"},
	"backups":          {"keep_backups"},
	"default":          {"default_backend"},
	"suffix":           {"path_suffix"},
	"suffixes":         {"path_suffix"},
	"extensions":       {"path_suffix"},
	"server":           {"servers"},
	"backend":          {"backends", "default_backend"},
	"ntp":              {"server"},
	"ntp_server":       {"server"},
	"cron":             {"schedule"},
	"chrony":           {"method"},
	"mode":             {"method"},
	"key":              {"identity_file"},
	"ssh_key":          {"identity_file"},
	"iface":            {"interface"},
	"nic":              {"interface"},
	"timeout":          {"connect_timeout"},
	"username":         {"user"},
	"weight":           {"check_weight"},
	"interval":         {"check_interval", "check_inter"},
	"max_conn":         {"maxconn"},
	"stats_url":        {"stats_uri"},
	"known_hosts_file": {"known_hosts"},
}

func unknownFieldMsg(name string, known []fieldInfo) string {
	names := make([]string, len(known))
	for i, f := range known {
		names[i] = f.name
	}
	msg := "unknown field " + quote(name)
	if s := closest(name, names); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	}
	return msg + "; allowed: " + strings.Join(names, ", ")
}

// closest suggests the allowed name nearest to name, or "".
func closest(name string, names []string) string {
	norm := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	norm = strings.ReplaceAll(norm, " ", "_")
	for _, n := range names {
		if n == norm {
			return n
		}
	}
	for _, s := range synonyms[norm] {
		for _, n := range names {
			if n == s {
				return n
			}
		}
	}
	if len(norm) > 64 {
		return ""
	}
	best, bestD := "", 0
	for _, n := range names {
		dist := levenshtein(norm, n)
		limit := len(n) / 3
		if limit < 1 {
			limit = 1
		}
		if limit > 3 {
			limit = 3
		}
		if dist <= limit && (best == "" || dist < bestD) {
			best, bestD = n, dist
		}
	}
	return best
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
