package main

import (
	"context"
	"maps"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func TestKeyValues(t *testing.T) {
	tests := []struct {
		args    []string
		want    map[string]string
		wantErr string
	}{
		{args: []string{"--param", `v=say "hi"`}, want: map[string]string{"v": `say "hi"`}},
		{args: []string{"--param", "v=a,l=KB1"}, want: map[string]string{"v": "a,l=KB1"}},
		{args: []string{"--param", "kbs=KB1,KB2", "--param", "reboot=true"}, want: map[string]string{"kbs": "KB1,KB2", "reboot": "true"}},
		{args: []string{"--param", "v="}, want: map[string]string{"v": ""}},
		{args: []string{"--param", `media_source=\\dp01\media$\Win10`}, want: map[string]string{"media_source": `\\dp01\media$\Win10`}},
		{args: []string{"--param", "novalue"}, wantErr: `"novalue": want KEY=VALUE`},
		{args: []string{"--param", "=x"}, wantErr: "the key before '=' is empty"},
		{args: []string{"--param", "v=1", "--param", "v=2"}, wantErr: "v given twice"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")[:min(40, len(strings.Join(tt.args, " ")))], func(t *testing.T) {
			var got map[string]string
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			fs.SetOutput(&strings.Builder{})
			keyValuesVar(fs, &got, "param", "")
			err := fs.Parse(tt.args)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--param") {
					t.Fatalf("err = %v, want one naming --param and containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !maps.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestFlagErrorsShort: a huge or hostile flag value is quoted short in the
// error, naming the flag.
func TestFlagErrorsShort(t *testing.T) {
	for _, argv := range [][]string{
		{"playbook", "run", "discover", "--device", "pc1", "--param", strings.Repeat("x", 10<<20)},
		{"exec", "pc1", "--connect-timeout", strings.Repeat("9", 1<<20), "--", "hostname"},
		{"exec", "pc1", "--" + strings.Repeat("y", 1<<20), "--", "hostname"},
		{"exec", "pc1", "--connect-timeout", "\x1b[2J\r\n", "--", "hostname"},
	} {
		var o, e strings.Builder
		code := run(context.Background(), argv, strings.NewReader(""), &o, &e, func(string) string { return "" })
		if code != exitUsage || e.Len() > 1024 || strings.ContainsAny(e.String(), "\x1b\r") {
			t.Errorf("%s…: exit %d, %d bytes of stderr: %.200q", argv[:3], code, e.Len(), e.String())
		}
	}
}

func TestTerminalSafe(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain\nsecond line\twith tab", "plain\nsecond line\twith tab"},
		{"org \x1b[2J\x1b]0;pwned\x07 name", `org \x1b[2J\x1b]0;pwned\x07 name`},
		{"carriage\rreturn", `carriage\x0dreturn`},
		{"c1 \u0085 control", `c1 \x85 control`},
		{"bad \xff utf-8", "bad \uFFFD utf-8"},
		{strings.Repeat("x", 2000), strings.Repeat("x", 1024) + "… (2000 bytes)"},
	}
	for _, tt := range tests {
		if got := terminalSafe(tt.in); got != tt.want {
			t.Errorf("terminalSafe(%.40q) = %.80q, want %.80q", tt.in, got, tt.want)
		}
	}
	if got := strings.Count(terminalSafe(strings.Repeat("l\n", 500)), "\n"); got != 200 {
		t.Errorf("500 lines came out as %d", got+1)
	}
}
