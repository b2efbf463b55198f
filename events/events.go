// Package events is what every layer reports: one Event type, rendered by ui
// and read by tests; it imports nothing of the project.
package events

import "time"

// Event types, one JSON object per line with --output json (docs/events.md).
const (
	EvRunStarted    = "run_started"
	EvHostConnected = "host_connected"
	EvStep          = "step_result"
	EvChange        = "change"
	EvWarning       = "warning"
	EvError         = "error"
	EvSummary       = "summary"
	EvInfo          = "info"
)

// Step statuses.
const (
	StatusOK      = "ok"
	StatusChanged = "changed"
	StatusFailed  = "failed"
	StatusSkipped = "skipped"
)

// Event is one thing that happened during a command. Layers below cmd only
// emit events; one renderer turns them into terminal lines or JSON.
type Event struct {
	Time       time.Time      `json:"time"`
	Type       string         `json:"type"`
	Run        string         `json:"run,omitempty"`
	Host       string         `json:"host,omitempty"`
	Step       string         `json:"step,omitempty"`
	Status     string         `json:"status,omitempty"`
	Message    string         `json:"message,omitempty"`
	Path       string         `json:"path,omitempty"`
	Diff       string         `json:"diff,omitempty"`
	DurationMS int64          `json:"duration_ms,omitempty"`
	Summary    *Summary       `json:"summary,omitempty"`
	Data       map[string]any `json:"data,omitempty"`
}

// Sink receives events; implementations must be safe for concurrent use.
type Sink interface{ Emit(Event) }

// SinkFunc adapts a function to Sink.
type SinkFunc func(Event)

// Emit calls f.
func (f SinkFunc) Emit(e Event) { f(e) }

// HostSummary is one host's line in the final table.
type HostSummary struct {
	Host       string `json:"host"`
	OK         int    `json:"ok"`
	Changed    int    `json:"changed"`
	Failed     int    `json:"failed"`
	DurationMS int64  `json:"duration_ms"`
	RoundTrips int64  `json:"round_trips"`
	RolledBack bool   `json:"rolled_back,omitempty"`
}

// Summary ends a command.
type Summary struct {
	Command    string        `json:"command"`
	Run        string        `json:"run,omitempty"`
	Hosts      []HostSummary `json:"hosts"`
	Changes    int           `json:"changes"`
	Failed     bool          `json:"failed"`
	RolledBack bool          `json:"rolled_back,omitempty"`
	Backups    string        `json:"backups,omitempty"`
	Next       string        `json:"next,omitempty"`
	DurationMS int64         `json:"duration_ms"`
}
