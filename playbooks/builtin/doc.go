// Package builtin holds the playbooks that ship with Ringmaster, embedded in
// the binary, so they can be listed, shown, run, and exported to disk as a
// starting point for a site's own.
package builtin
