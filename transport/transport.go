// Package transport runs commands on one host over SSH: dialing through
// ProxyJump hops, authentication (agent, identity files, passphrase prompt),
// ~/.ssh/config resolution, known_hosts checking, exec with sudo wrapping and
// kill on cancel. It imports nothing else of hadeploy, so it can be tested and
// reasoned about alone; what to run is provision's business.
package transport

import (
	"context"
	"io"
)

// Result is what one remote command produced.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Transport is one host's connection. Implementations must be safe for use by
// one goroutine at a time per call, and count every network round trip.
type Transport interface {
	// Run executes cmd through the remote shell (as root: via sudo when the
	// login user is not root). stdin may be nil. A non-zero exit is NOT an
	// error: err is only for transport failures and timeouts.
	Run(ctx context.Context, cmd string, stdin io.Reader) (Result, error)
	// RoundTrips is how many network round trips this transport has made.
	RoundTrips() int64
	// Name is the inventory host name (for errors).
	Name() string
	Close() error
}
