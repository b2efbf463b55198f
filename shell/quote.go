package shell

import "github.com/hadeploy/hadeploy/transport"

// Quote makes s a single word for a POSIX shell. It is the transport's one
// quoting helper, so that the programs built here and the transport's own
// sudo wrapping quote alike.
var Quote = transport.Quote

// Join quotes each argument and joins them into one command line.
var Join = transport.Join
