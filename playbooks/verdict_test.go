package playbooks

import (
	"reflect"
	"strings"
	"testing"
)

func TestJudge(t *testing.T) {
	setup := &Expect{
		Success: []int{0},
		Reboot:  []int{3010},
		Skip:    map[int]string{2359302: "already_installed", 0x80240017: "not_applicable"},
		Fail:    map[int]string{0xC1900208: "compat_blocked:0xC1900208"},
	}
	tests := []struct {
		name   string
		e      *Expect
		code   int
		want   Verdict
		reason Reason
	}{
		{"nil expect, zero", nil, 0, VerdictSuccess, ""},
		{"nil expect, non-zero", nil, 1, VerdictFail, "exit:0x00000001"},
		{"reboot", setup, 3010, VerdictReboot, ""},
		{"skip", setup, 2359302, VerdictSkip, "already_installed"},
		{"skip, signed form of 0x80240017", setup, -2145124329, VerdictSkip, "not_applicable"},
		{"fail with reason, signed form", setup, -1047526904, VerdictFail, "compat_blocked:0xC1900208"},
		{"unlisted", setup, 5, VerdictFail, "exit:0x00000005"},
		{"custom success replaces 0", &Expect{Success: []int{1}}, 0, VerdictFail, "exit:0x00000000"},
	}
	for _, tt := range tests {
		v, r := Judge(tt.e, tt.code)
		if v != tt.want || r != tt.reason {
			t.Errorf("%s: Judge(%d) = %v %q, want %v %q", tt.name, tt.code, v, r, tt.want, tt.reason)
		}
	}
}

func TestCapture(t *testing.T) {
	tests := []struct {
		name    string
		r       Register
		stdout  string
		want    any
		wantErr string
	}{
		{"json object with BOM and CRLF", Register{Name: "os", JSON: true}, "\ufeff{\r\n  \"BuildNumber\": \"19045\"\r\n}\r\n",
			map[string]any{"BuildNumber": "19045"}, ""},
		{"json scalar", Register{Name: "n", JSON: true}, "3\r\n", float64(3), ""},
		{"empty json", Register{Name: "os", JSON: true}, "\r\n", nil, "stdout is empty"},
		{"bad json", Register{Name: "os", JSON: true}, "Caption : Windows", nil, "not JSON"},
		{"named groups", Register{Name: "disk", Regex: `Free=(?P<free>\d+) Total=(?P<total>\d+)`}, "Free=40 Total=100\r\n",
			map[string]any{"free": "40", "total": "100"}, ""},
		{"unnamed groups", Register{Name: "v", Regex: `(\d+)\.(\d+)`}, "10.0\r\n", map[string]any{"g1": "10", "g2": "0"}, ""},
		{"no match", Register{Name: "v", Regex: `build (\d+)`}, "nothing", nil, "does not match"},
	}
	for _, tt := range tests {
		got, err := Capture(&tt.r, []byte(tt.stdout))
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.r.Name) {
				t.Errorf("%s: err = %v, want one naming %s and containing %q", tt.name, err, tt.r.Name, tt.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Capture = %#v, %v; want %#v", tt.name, got, err, tt.want)
		}
	}
}

func TestSplitReason(t *testing.T) {
	tests := []struct {
		text   string
		reason Reason
		msg    string
	}{
		{"insufficient_disk", "insufficient_disk", ""},
		{"insufficient_disk: less than 20 GB free", "insufficient_disk", "less than 20 GB free"},
		{"compat_blocked:0xC1900208", "compat_blocked:0xC1900208", ""},
		{"compat_blocked:0xC1900208: an app blocks it", "compat_blocked:0xC1900208", "an app blocks it"},
		{"build is not the target yet", "failed", "build is not the target yet"},
		{"Bad Reason: text", "failed", "Bad Reason: text"},
	}
	for _, tt := range tests {
		if r, m := splitReason(tt.text, "failed"); r != tt.reason || m != tt.msg {
			t.Errorf("splitReason(%q) = %q, %q; want %q, %q", tt.text, r, m, tt.reason, tt.msg)
		}
	}
}
