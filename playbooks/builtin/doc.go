// Package builtin holds the playbooks that ship with Ringmaster, embedded in
// the binary, so they can be listed, shown, run, and exported to disk as a
// starting point for a site's own.
//
// It also owns how a playbook reference is resolved wherever one is given
// (playbook run, a campaign's playbook, playbook validate): Files reads a
// playbook file under internal/inputfile's size limit, else takes a
// built-in by name, so the CLI and the campaigns application resolve
// references alike. A server resolves them with Library instead: names
// only, a site's NAME.yaml in its playbook directory before a built-in,
// never a path a caller gives. Export writes a built-in to disk, never over
// an existing file.
package builtin
