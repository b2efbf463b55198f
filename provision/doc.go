// Package provision acts on hosts through package transport: facts, the
// runner that plans and applies steps, backups, the per-host journal and the
// lock. It is the only package that opens connections.
package provision
