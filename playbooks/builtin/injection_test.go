package builtin_test

import (
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

type pathParam struct {
	playbook, param string
	url             bool // an http(s) URL is accepted too
}

// pathParams are the built-ins' parameters that name a folder or a URL
// and reach a native program's command line.
var pathParams = []pathParam{
	{"win10-feature-update", "media_source", true},
	{"install-kb", "source", false},
	{"hsa-remediate", "source", false},
}

// hostile are values a path parameter might be given by mistake or malice:
// each carries what cmd.exe or PowerShell would run, redirect or expand
// if the value were ever parsed as code, or an argument break, or a climb
// out of the share.
var hostile = []string{
	`\\dp01\m&calc`,
	`\\dp01\m & calc`,
	`\\dp01\m>C:\Windows\pwned.txt`,
	`C:\Media>C:\Windows\pwned.txt`,
	`\\dp01\m|calc`,
	`\\dp01\m^&calc`,
	`\\dp01\%PATH%`,
	`\\dp01\$(Restart-Computer -Force)`,
	`\\dp01\m;Restart-Computer -Force`,
	`\\dp01\m'; Restart-Computer -Force; '`,
	`\\dp01\m" & calc & "`,
	`\\dp01\m" /MOV "C:\Windows`,
	"\\\\dp01\\m\r\ncalc",
	"\\\\dp01\\m\ncalc",
	"\\\\dp01\\m\x1b[2J",
}

// TestPathParamsAreTight checks each path parameter's pattern: what real
// media and update folders look like passes; every hostile value, '..',
// spaces, a trailing backslash and the like are refused before a run
// starts.
func TestPathParamsAreTight(t *testing.T) {
	good := []string{`\\dp01\media$\Win10_22H2`, `\\dp01.rxx.nhs.uk\c$\Media\Win10-22H2`, `\\10.20.0.5\updates$`,
		`C:\ProgramData\Media`, `D:\`, `e:\Win10.22H2`}
	goodURL := []string{`http://dp01/media/Win10_22H2.zip`, `https://dp01.rxx.nhs.uk:8443/media/win10.zip`}
	bad := append(slices.Clone(hostile),
		``, `media`, `C:Media`, `/MIR`, `-x`, `\\dp01`, `\\dp01\`, `\\dp01\m\`, `C:\Media\`, `C:\My Media`, ` C:\Media`,
		`\\dp01\m\..\..\Windows`, `C:\Media\..\Windows`, `\\dp01\.\m`, `\\dp01\..`, `\\?\C:\Media`, `\\.\pipe\x`,
		`\\-dp01\m`, `\\dp01\m%20x`, "\\\\dp01\\m`calc", `\\dp01\mé`, "\\\\dp01\\m\t", `\\dp01\m/x`,
		`http://dp01/m.zip&calc`, `http://dp01/m.zip?a=1`, `http://dp01/../m.zip`, `http://dp01/%2e%2e/m.zip`,
		`http://user:pw@dp01/m.zip`, `http://dp01/m.zip>C:\x`, `file://dp01/m.zip`, `http://dp01/m.exe`, `http://dp01/`)
	for _, pp := range pathParams {
		pb := get(t, pp.playbook)
		base := map[string]any{"kbs": []any{"KB4512508"}, "required": []any{"10.0.18363=KB4512508"}}
		try := func(v string) error {
			params := map[string]any{pp.param: v}
			for _, p := range pb.Params {
				if p.Required && p.Name != pp.param {
					params[p.Name] = base[p.Name]
				}
			}
			_, err := pb.Values(params)
			return err
		}
		accept := slices.Clone(good)
		if pp.url {
			accept = append(accept, goodURL...)
		} else {
			bad = append(bad, goodURL...)
		}
		for _, v := range accept {
			if err := try(v); err != nil {
				t.Errorf("%s %s=%q refused: %v", pp.playbook, pp.param, v, err)
			}
		}
		for _, v := range bad {
			if err := try(v); err == nil {
				t.Errorf("%s %s=%q accepted", pp.playbook, pp.param, v)
			}
		}
	}
}

// TestEveryStringParamHasAPattern keeps the list above complete: a string
// or list parameter of a built-in without a pattern would take any text
// to its scripts, and a path parameter missing from pathParams would not
// be tested.
func TestEveryStringParamHasAPattern(t *testing.T) {
	for _, n := range builtin.Names() {
		for _, p := range get(t, n).Params {
			if p.Type != playbooks.TypeString && p.Type != playbooks.TypeList {
				continue
			}
			if p.Pattern == "" {
				t.Errorf("%s: parameter %s has no pattern", n, p.Name)
			}
			listed := slices.ContainsFunc(pathParams, func(pp pathParam) bool { return pp.playbook == n && pp.param == p.Name })
			if strings.Contains(p.Pattern, `\\\\`) && !listed {
				t.Errorf("%s: path parameter %s is not in pathParams", n, p.Name)
			}
		}
	}
}

// run is what one playbook run did to an audited simulated device.
type run struct {
	out      playbooks.Outcome
	procs    []device.Process
	programs map[string]bool
	files    []string
	truth    device.Truth
}

func runAudited(t *testing.T, pb *playbooks.Playbook, spec device.Spec, params map[string]any) run {
	t.Helper()
	spec.AuditProcesses = true
	d := simtest.Start(t, scale, spec)[0]
	out, _ := execute(t, d, playbooks.Run{Playbook: pb, Params: params})
	r := run{out: out, procs: d.Endpoint.Machine.Processes(), programs: map[string]bool{},
		files: d.Endpoint.Machine.Files(), truth: d.Endpoint.Machine.Truth()}
	for _, p := range r.procs {
		r.programs[programName(p.Args[0])] = true
	}
	return r
}

func programName(arg0 string) string {
	arg0 = strings.ToLower(arg0[strings.LastIndexAny(arg0, `\/`)+1:])
	return strings.TrimSuffix(arg0, ".exe")
}

// patternRE finds the built-ins' path patterns, to take them out.
var patternRE = regexp.MustCompile(`(?m)^    pattern: '\\\\\\\\.*\n`)

// TestHostilePathsStayData runs each built-in that takes a path on a
// simulated device with its path pattern removed, as if a value had got
// past it, once with a real path and once with each hostile value. The
// program the path is for must receive the value as one literal argument
// (where Windows PowerShell 5.1 can pass it so: not with a double quote
// inside), and the device must show nothing the real path did not cause:
// no other program started (no calc, no cmd.exe parsing the value), no
// other file written (no pwned.txt), no extra restart or update.
func TestHostilePathsStayData(t *testing.T) {
	hostileURLs := []string{`http://dp01/m.zip&calc`, `http://dp01/m.zip>C:\Windows\pwned.txt`, `http://dp01/m.zip|calc`,
		`http://dp01/m.zip" & calc & "`, `http://dp01/$(Restart-Computer).zip`, "http://dp01/m.zip\r\ncalc"}
	same := func(v string) string { return v }
	msu := func(v string) string { return v + `\KB4512508.msu` }
	cases := []struct {
		name, playbook string
		spec           device.Spec
		params         map[string]any
		param, real    string
		hostile        []string
		program        string                // the program the path is for
		arg            func(v string) string // the argument it must receive
	}{
		{"feature update from a folder", "win10-feature-update", win1909(device.Behaviour{CompatBlock: true}), map[string]any{},
			"media_source", mediaShare, hostile, "robocopy", same},
		{"feature update over HTTP", "win10-feature-update", win1909(device.Behaviour{CompatBlock: true}), map[string]any{},
			"media_source", "http://dp01/media/Win10_22H2.zip", hostileURLs, "bitsadmin", same},
		{"install-kb", "install-kb", win1909(device.Behaviour{}), map[string]any{"kbs": []any{"KB4512508"}},
			"source", updateShare, hostile, "wusa", msu},
		{"hsa-remediate", "hsa-remediate", win1909(device.Behaviour{}), map[string]any{"required": []any{"10.0.18363=KB4512508"}},
			"source", updateShare, hostile, "wusa", msu},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			src, err := builtin.Source(tc.playbook)
			if err != nil {
				t.Fatal(err)
			}
			loose, n := patternRE.ReplaceAll(src, nil), len(patternRE.FindAll(src, -1))
			if n != 1 {
				t.Fatalf("found %d path patterns, want 1", n)
			}
			pb, err := playbooks.Parse(tc.playbook+"-unchecked.yaml", loose)
			if err != nil {
				t.Fatal(err)
			}
			params := func(v string) map[string]any {
				p := maps.Clone(tc.params)
				p[tc.param] = v
				return p
			}
			real := runAudited(t, pb, tc.spec, params(tc.real))
			if !real.programs[tc.program] {
				t.Fatalf("with a real path %s never started: %+v", tc.program, real.out)
			}
			for _, v := range tc.hostile {
				got := runAudited(t, pb, tc.spec, params(v))
				for p := range got.programs {
					if !real.programs[p] {
						t.Errorf("%q: started %s, which the real path did not (programs: %v)", v, p, slices.Sorted(maps.Keys(got.programs)))
					}
				}
				for _, f := range got.files {
					if !slices.Contains(real.files, f) {
						t.Errorf("%q: wrote %s", v, f)
					}
				}
				if got.truth.Reboots > real.truth.Reboots || len(got.truth.KBsInstalled) > len(real.truth.KBsInstalled) ||
					got.truth.UpgradesLaunched > real.truth.UpgradesLaunched {
					t.Errorf("%q: device did more than with the real path: %+v, then %+v", v, real.truth, got.truth)
				}
				i := slices.IndexFunc(got.procs, func(p device.Process) bool { return programName(p.Args[0]) == tc.program })
				switch {
				case i < 0:
					t.Errorf("%q: %s never started", v, tc.program)
				case !strings.Contains(v, `"`) && !slices.Contains(got.procs[i].Args[1:], tc.arg(v)):
					t.Errorf("%q: %s got %q, want %q as one argument", v, tc.program, got.procs[i].Args, tc.arg(v))
				}
			}
		})
	}
}
