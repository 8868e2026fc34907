package playbooks

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// Reason is the machine-readable why of an outcome, e.g. "already_compliant"
// or "compat_blocked:0xC1900208". Reports group devices by it.
type Reason string

// Reasons the engine itself decides. Playbooks add their own through
// expect.skip and expect.fail (e.g. "compat_blocked:0xC1900208").
const (
	ReasonCompleted        Reason = "completed"
	ReasonAlreadyCompliant Reason = "already_compliant"
	ReasonUnreachable      Reason = "unreachable"
	ReasonAuthFailed       Reason = "auth_failed"
	ReasonTimedOut         Reason = "timed_out"
	ReasonRebootTimeout    Reason = "reboot_timeout"
	ReasonCommandFailed    Reason = "command_failed"
	ReasonVerifyFailed     Reason = "verify_failed"
	ReasonBadCondition     Reason = "bad_condition" // a when could not be evaluated
	ReasonBadOutput        Reason = "bad_output"    // register could not read a script's output
	ReasonTaskFailed       Reason = "task_failed"   // a SYSTEM task could not be created, run or read
)

// ReasonIneligible starts every reason that says a device cannot take a
// playbook at all, e.g. "ineligible_edition" or
// "ineligible_hardware:0xC1900200": playbooks name their own (see
// Reason.Ineligible).
const ReasonIneligible Reason = "ineligible"

// Ineligible reports a reason of the ReasonIneligible family.
func (r Reason) Ineligible() bool { return strings.HasPrefix(string(r), string(ReasonIneligible)) }

// Verdict is what a script's exit code means under a step's Expect.
type Verdict int

// Verdicts.
const (
	VerdictSuccess Verdict = iota // carry on
	VerdictReboot                 // success; restart before the next step
	VerdictSkip                   // stop the playbook as skipped, with a reason
	VerdictFail                   // stop the playbook as failed, with a reason
)

func (v Verdict) String() string {
	switch v {
	case VerdictSuccess:
		return "success"
	case VerdictReboot:
		return "reboot"
	case VerdictSkip:
		return "skip"
	case VerdictFail:
		return "fail"
	}
	return fmt.Sprintf("verdict(%d)", int(v))
}

// Judge classifies an exit code under e (nil means only 0 succeeds).
// Exit codes are compared as Windows reports them: a negative int32 such as
// -1047526904 and its unsigned form 0xC1900208 are the same code. An
// unlisted code fails with reason "exit:<code in hex>".
func Judge(e *Expect, code int) (Verdict, Reason) {
	if e == nil {
		e = &Expect{}
	}
	success := e.Success
	if len(success) == 0 {
		success = []int{0}
	}
	same := func(c int) bool { return uint32(c) == uint32(code) }
	switch {
	case slices.ContainsFunc(success, same):
		return VerdictSuccess, ""
	case slices.ContainsFunc(e.Reboot, same):
		return VerdictReboot, ""
	}
	for c, why := range e.Skip {
		if same(c) {
			return VerdictSkip, Reason(why)
		}
	}
	for c, why := range e.Fail {
		if same(c) {
			return VerdictFail, Reason(why)
		}
	}
	return VerdictFail, Reason(fmt.Sprintf("exit:0x%08X", uint32(code)))
}

// Capture turns a script's stdout into the fact r names: the decoded JSON
// value, or a map of the regular expression's named groups (every group
// when none is named) from its first match.
func Capture(r *Register, stdout []byte) (any, error) {
	if r.JSON {
		text := strings.TrimSpace(strings.TrimPrefix(string(stdout), "\ufeff"))
		if text == "" {
			return nil, fmt.Errorf("register %s: stdout is empty, want JSON", r.Name)
		}
		var v any
		if err := json.Unmarshal([]byte(text), &v); err != nil {
			return nil, fmt.Errorf("register %s: stdout is not JSON: %w", r.Name, err)
		}
		return v, nil
	}
	re, err := regexp.Compile(r.Regex)
	if err != nil {
		return nil, fmt.Errorf("register %s: %w", r.Name, err)
	}
	m := re.FindStringSubmatch(string(stdout))
	if m == nil {
		return nil, fmt.Errorf("register %s: stdout does not match %q", r.Name, r.Regex)
	}
	out := make(map[string]any, len(m))
	names := re.SubexpNames()
	named := slices.ContainsFunc(names, func(n string) bool { return n != "" })
	for i := 1; i < len(m); i++ {
		switch {
		case names[i] != "":
			out[names[i]] = m[i]
		case !named:
			out[fmt.Sprintf("g%d", i)] = m[i]
		}
	}
	return out, nil
}
