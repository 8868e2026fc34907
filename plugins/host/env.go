package host

import "strings"

// envAllowed are the variables a plugin inherits from the host, if set.
// Keep the package documentation's list in step with this one.
var envAllowed = map[string]bool{
	"PATH":          true, // to find the programs a plugin runs (ssh, an interpreter)
	"HOME":          true, // per-user configuration a plugin's libraries look for
	"TMPDIR":        true, // where the plugin's go-plugin socket and temporary files go
	"TZ":            true,
	"LANG":          true,
	"LANGUAGE":      true,
	"SSL_CERT_FILE": true, // the system's CA roots, where they are not in the default place
	"SSL_CERT_DIR":  true,
}

// pluginEnv is the environment a plugin starts with: the allowed variables
// of environ, plus LC_* (locale), and nothing else. go-plugin adds its own
// (the handshake cookie, PLUGIN_* and the AutoMTLS client certificate).
func pluginEnv(environ []string) []string {
	var env []string
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && (envAllowed[name] || strings.HasPrefix(name, "LC_")) {
			env = append(env, kv)
		}
	}
	return env
}
