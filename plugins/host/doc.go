// Package host runs executor plugins for Ringmaster: it starts a plugin
// binary through hashicorp/go-plugin (gRPC, the sdk handshake and protocol
// version, AutoMTLS), refuses a binary whose SHA-256 is not the one
// registered for it, routes the plugin's hclog output (sdk.Logger's lines)
// and what it writes to stdout and stderr once serving into slog, and keeps
// the plugin's failures out of the orchestrator: a plugin that crashes,
// hangs or answers garbage fails the calls it was serving with typed
// errors and is started afresh for the next ones.
//
// # What runs is what was pinned
//
// Start opens the plugin file once, checks that descriptor and hashes it,
// and the child executes that same descriptor (inherited as its fd 3, run
// as /proc/self/fd/3), never the path again: renaming another file or
// re-pointing a symbolic link onto the path after the check changes
// nothing. "#!" scripts work too, as their interpreter can open the
// inherited descriptor. exec_linux.go explains why this design and not a
// private copy; it needs Linux and /proc, and elsewhere plugins are
// refused.
//
// A plugin file is refused (an *UnsafePathError naming the culprit, its
// mode and owner, and the fix) unless it, and every directory from / down
// to it (through any symbolic link on the way), is owned by root or by the
// user running Ringmaster and writable by neither its group nor others.
// There is no exception for sticky shared directories such as /tmp. The
// built-in executors (Spec.Self) are this process's own executable, run
// from /proc/self/exe, so they need no pin and no check.
//
// # Starting
//
// A plugin has Spec.StartTimeout (DefaultStartTimeout, 10 s) to complete
// go-plugin's handshake and answer Info. A file that says nothing for that
// long, exits, writes something else or speaks another protocol version is
// killed with its whole process group and refused with a *HandshakeError
// (errors.Is ErrNotPlugin) that names the file and quotes what it wrote;
// go-plugin's own multi-line diagnostics never reach the caller.
//
// # Environment
//
// A plugin does not inherit the host's environment, which may hold
// Ringmaster's settings (RINGMASTER_DB, RINGMASTER_KEY_FILE) or secrets an
// operator exported (WINRM_PASSWORD, a proxy URL with a password). It
// starts with these variables only, each if the host has it:
//
//	PATH, HOME, TMPDIR, TZ, LANG, LANGUAGE, LC_*, SSL_CERT_FILE, SSL_CERT_DIR
//
// plus the ones go-plugin sets for the handshake: the sdk's magic cookie,
// PLUGIN_MIN_PORT, PLUGIN_MAX_PORT, PLUGIN_PROTOCOL_VERSIONS and
// PLUGIN_CLIENT_CERT. Everything a plugin needs to reach a device travels
// in the sdk.Target of each call, over the mutually authenticated
// connection.
package host
