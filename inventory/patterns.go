package inventory

import (
	"regexp"
)

// Patterns of the values that end up in config files and commands on hosts:
// anything else is refused.
var (
	clusterNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	hostNameRE    = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	dnsNameRE     = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	routeHostRE   = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$`)
	userRE        = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.-]{0,31}$`)
	interfaceRE   = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,15}$`)
	healthPathRE  = regexp.MustCompile(`^/[A-Za-z0-9._~/-]*$`)
	statsURIRE    = regexp.MustCompile(`^/[A-Za-z0-9._~/?=&-]*$`)
	statsUserRE   = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
	backendNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	routeNameRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	suffixRE      = regexp.MustCompile(`^\.[A-Za-z0-9_-]{1,16}$`)
	cronFieldRE   = regexp.MustCompile(`^[0-9*/,-]+$`)
	dottedNumRE   = regexp.MustCompile(`^[0-9.]+$`)
)

// plainKey is a key printed bare in a field path; bigIntRE is an integer that
// YAML reads as a float because it does not fit in 64 bits.
var (
	plainKey = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	bigIntRE = regexp.MustCompile(`^[-+]?[0-9][0-9_]*$`)
)
