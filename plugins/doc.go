// Package plugins is the home of Ringmaster's executors: the public SDK that
// plugin authors build against (plugins/sdk), the go-plugin host side
// (plugins/host) and the first-party WinRM executor (plugins/winrm). Nothing
// is implemented here yet; see the project's roadmap issues.
package plugins
