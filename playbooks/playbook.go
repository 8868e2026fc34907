package playbooks

import (
	"fmt"
	"regexp"
	"time"

	"gopkg.in/yaml.v3"
)

// Playbook is what Ringmaster does to one device: ordered steps, a rollback
// (OnFailure) and a final Verify whose facts decide the outcome.
type Playbook struct {
	File        string  `yaml:"-"`
	Name        string  `yaml:"name"`
	Version     string  `yaml:"version"`
	Description string  `yaml:"description"`
	Params      []Param `yaml:"params"`
	Steps       []Step  `yaml:"steps"`
	OnFailure   []Step  `yaml:"on_failure"`
	Verify      []Step  `yaml:"verify"`
}

// ParamType is a parameter's type.
type ParamType string

// Parameter types.
const (
	TypeString   ParamType = "string"
	TypeInt      ParamType = "int"
	TypeBool     ParamType = "bool"
	TypeDuration ParamType = "duration"
	TypeList     ParamType = "list"
)

// Param is a typed playbook parameter.
type Param struct {
	Line        int       `yaml:"-"`
	Name        string    `yaml:"name"`
	Type        ParamType `yaml:"type"`
	Description string    `yaml:"description"`
	Default     any       `yaml:"default"`
	Required    bool      `yaml:"required"`
	Pattern     string    `yaml:"pattern"` // for strings and list items

	re *regexp.Regexp
}

// Step is one thing a playbook does.
type Step struct {
	Line int    `yaml:"-"`
	Name string `yaml:"name"`
	// Exactly one action: a script (PowerShell or cmd), a reboot, a wait or a failure.
	PowerShell string     `yaml:"powershell"`
	Cmd        string     `yaml:"cmd"`
	Reboot     *Reboot    `yaml:"reboot"`
	WaitUntil  *WaitUntil `yaml:"wait_until"`
	// Fail and Skip end the playbook. Their text is "reason" or "reason:
	// message", the reason machine-readable (e.g. insufficient_disk or
	// compat_blocked:0xC1900208); other text is a message with reason
	// "failed" or "skipped".
	Fail string `yaml:"fail"`
	Skip string `yaml:"skip"`

	// RunAs "system" runs a powershell step from a scheduled task as
	// SYSTEM instead of in the executor's session. Windows refuses setup's
	// upgrade and wusa in a WinRM (network logon) session, and such a
	// session cannot reach a share with the user's credentials (the double
	// hop); a SYSTEM task reaches it as the computer account. The task is
	// named for the run and step, so a resumed run finds it and never
	// launches it twice.
	RunAs string `yaml:"run_as"`
	// Loop is an expr expression giving a list: the step runs once per item,
	// which scripts read as $Item and expressions as item. An item whose exit
	// code means skip is recorded and the loop goes on; a failure stops it;
	// a reboot code restarts the device once, after the last item.
	Loop string `yaml:"loop"`

	When     string    `yaml:"when"` // an expr expression over facts and params (and item in a loop)
	Expect   *Expect   `yaml:"expect"`
	Register *Register `yaml:"register"`
	Timeout  Duration  `yaml:"timeout"`
	Retries  *Retries  `yaml:"retries"`
}

// Expect says what a script's exit codes mean. Unlisted codes are failures.
type Expect struct {
	Success []int          `yaml:"success"` // default [0]
	Reboot  []int          `yaml:"reboot"`  // success, and a restart is needed
	Skip    map[int]string `yaml:"skip"`    // end the playbook as skipped, with this reason
	Fail    map[int]string `yaml:"fail"`    // fail with this reason (e.g. compat_blocked:0xC1900208)
}

// Register stores a script's output as a fact. In a loop the fact is a map
// from each item to {exit_code, verdict, reason, value}, value being the
// parsed output when JSON or Regex is set.
type Register struct {
	Name  string `yaml:"name"`
	JSON  bool   `yaml:"json"`  // parse stdout as JSON
	Regex string `yaml:"regex"` // or take the named groups of this regular expression
}

// Retries retry a step on transient errors (unreachable, timed out) and,
// only when OnFailure is set, on a script that ran and failed.
type Retries struct {
	Count     int      `yaml:"count"`
	Backoff   Duration `yaml:"backoff"` // doubled after each attempt
	OnFailure bool     `yaml:"on_failure"`
}

// Reboot restarts the device and waits for it to come back, then re-probes.
type Reboot struct {
	Timeout Duration `yaml:"timeout"` // how long it may stay away (default 30m)
}

// WaitUntil polls a check until it is true or the timeout passes.
type WaitUntil struct {
	PowerShell string `yaml:"powershell"` // exits 0 when the condition holds
	// Until, when set, is an expr expression over facts checked after each
	// poll that exits 0, once the step's register has read its output: the
	// wait ends when it is true (e.g. a scheduled task no longer running).
	Until    string   `yaml:"until"`
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
}

// Duration is a time.Duration written as "90s", "2h". A value that is not
// a duration decodes as zero and is reported by validation with its line,
// so one bad duration does not hide the playbook's other problems.
type Duration struct {
	time.Duration
	raw  string
	line int
}

// UnmarshalYAML records the value and its line.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	d.raw, d.line = n.Value, n.Line
	if v, err := time.ParseDuration(n.Value); err == nil && v >= 0 {
		d.Duration = v
	}
	return nil
}

// problem describes a value that is not a duration, or "".
func (d *Duration) problem() string {
	if d == nil || d.raw == "" {
		return ""
	}
	if v, err := time.ParseDuration(d.raw); err != nil || v < 0 {
		return fmt.Sprintf("%q is not a duration such as 90s or 2h", d.raw)
	}
	return ""
}
