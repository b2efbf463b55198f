package inventory

import "time"

// Defaults applied when a field is absent.
const (
	DefaultName           = "hadeploy"
	DefaultSSHUser        = "root"
	DefaultSSHPort        = 22
	DefaultConnectTimeout = 10
	DefaultInterface      = "eth0"
	DefaultPriority       = 100 // only for a single lb host
	DefaultAdvertInt      = 1
	DefaultVRRPVersion    = 2
	DefaultCheckWeight    = 25
	DefaultCheckInterval  = 2
	DefaultCheckFall      = 2
	DefaultCheckRise      = 2
	DefaultSMTPTimeout    = 30 // seconds, the article's smtp_connect_timeout
	DefaultWebPort        = 8080
	DefaultHealthCheck    = "GET /index.html"
	DefaultHAProxyPort    = 80
	DefaultMaxConn        = 4000
	DefaultStatsURI       = "/haproxy?stats"
	DefaultCheckInter     = 2000
	DefaultRise           = 2
	DefaultFall           = 3
	DefaultServerWeight   = 1
	DefaultBackendName    = "web"
	DefaultTimeServer     = "pool.ntp.org"
	DefaultTimeSchedule   = "*/10 * * * *"
	DefaultKeepBackups    = 5
	DefaultTLSPort        = 443
	DefaultMetricsPort    = 8405
	DefaultMetricsPath    = "/metrics"
	// TLSExpiryWarning: a certificate expiring sooner is a warning (validate,
	// plan, verify), not a refusal.
	TLSExpiryWarning = 21 * 24 * time.Hour
)
