package testdevice

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strings"
	"time"
	"unicode/utf16"

	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// Spec is the machine a Device starts as; zero fields take the values of
// a Windows 10 22H2 Enterprise desktop (see New).
type Spec struct {
	Hostname     string // DNS name (default pc1.example.nhs.uk)
	Build        string // major.minor.build (default 10.0.19045)
	UBR          int    // default 3803
	KBs          []string
	DiskFreeGB   float64 // default 40
	RAMGB        float64 // default 8
	Manufacturer string  // default Dell Inc.
	Model        string  // default OptiPlex 7090
	Serial       string  // default 5CG1234ABC
}

// Device is one simulated Windows machine. It is safe for concurrent use:
// commands run side by side, as they would on Windows.
type Device struct {
	m     *device.Machine
	facts sdk.Facts
}

// New returns a device booted now, on a clock that runs at real time.
func New(s Spec) *Device {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&s.Hostname, "pc1.example.nhs.uk")
	def(&s.Build, "10.0.19045")
	def(&s.Manufacturer, "Dell Inc.")
	def(&s.Model, "OptiPlex 7090")
	def(&s.Serial, "5CG1234ABC")
	if s.UBR == 0 {
		s.UBR = 3803
	}
	if s.DiskFreeGB == 0 {
		s.DiskFreeGB = 40
	}
	if s.RAMGB == 0 {
		s.RAMGB = 8
	}
	if s.KBs == nil {
		s.KBs = []string{"KB5034441"}
	}
	clock := device.NewScaledClock(time.Now(), 1)
	m := device.New(device.Spec{Hostname: s.Hostname, Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise",
		Build: s.Build, UBR: s.UBR, KBs: s.KBs, DiskFreeGB: s.DiskFreeGB, RAMGB: s.RAMGB,
		Manufacturer: s.Manufacturer, Model: s.Model, Serial: s.Serial}, clock, device.DefaultMedia)
	return &Device{m: m, facts: sdk.Facts{Hostname: m.Name(), OSCaption: "Microsoft Windows 10 Enterprise", OSEdition: "Enterprise",
		OSBuild: s.Build, UBR: s.UBR, KBs: append([]string(nil), s.KBs...), DiskFreeGB: s.DiskFreeGB, RAMGB: s.RAMGB,
		Manufacturer: s.Manufacturer, Model: s.Model, Serial: s.Serial, LastBoot: clock.Now()}}
}

// Machine is the simulated machine itself, for tests that inject faults
// (device.Machine.SetOnline, SetCompatBlock) or read what happened (Truth).
func (d *Device) Machine() *device.Machine { return d.m }

// Facts is what a correct probe of the device as it booted reports.
func (d *Device) Facts() sdk.Facts { return d.facts }

// Run runs c as Windows would for a remote-management transport: a
// PowerShell script through powershell.exe, a cmd script through cmd.exe.
// Output goes to out (if not nil) as it is written, and all of it into the
// Result. Run returns when the command exits, or when ctx ends, which stops
// the command and returns ctx's error. c.Timeout is not applied: bounding a
// command is the executor's job, which the conformance kit checks.
func (d *Device) Run(ctx context.Context, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	line, err := CommandLine(c)
	if err != nil {
		return sdk.Result{ExitCode: -1}, err
	}
	return d.RunLine(ctx, line, c.Stdin, out)
}

// RunLine runs a command line as cmd.exe receives it (from a WinRM shell or
// the Windows OpenSSH server), as Run does.
func (d *Device) RunLine(ctx context.Context, line string, stdin []byte, out func(sdk.Chunk)) (sdk.Result, error) {
	start := time.Now()
	p := d.m.Start(line, nil)
	if len(stdin) > 0 {
		p.Input(stdin, true)
	}
	var res sdk.Result
	for {
		chunks, exited, code := p.Read(ctx)
		for _, ch := range chunks {
			c := sdk.Chunk{Stream: sdk.Stdout, Data: ch.Data}
			if ch.Stream == "stderr" {
				c.Stream = sdk.Stderr
				res.Stderr = append(res.Stderr, c.Data...)
			} else {
				res.Stdout = append(res.Stdout, c.Data...)
			}
			if out != nil {
				out(c)
			}
		}
		if exited {
			res.ExitCode, res.Duration = code, time.Since(start)
			return res, nil
		}
		if ctx.Err() != nil {
			p.Terminate()
			res.ExitCode, res.Duration = -1, time.Since(start)
			return res, ctx.Err()
		}
	}
}

// CommandLine is the command line a Windows transport runs for c: a
// PowerShell script as powershell.exe -EncodedCommand (base64 of UTF-16LE,
// which reaches PowerShell intact through any quoting), a cmd script as it
// is.
func CommandLine(c sdk.Command) (string, error) {
	switch c.Shell {
	case sdk.PowerShell, "":
		u := utf16.Encode([]rune(c.Script))
		b := make([]byte, 2*len(u))
		for i, r := range u {
			binary.LittleEndian.PutUint16(b[2*i:], r)
		}
		return "powershell.exe -NoProfile -NonInteractive -EncodedCommand " + base64.StdEncoding.EncodeToString(b), nil
	case sdk.Cmd:
		if strings.ContainsAny(c.Script, "\r\n") {
			return "", fmt.Errorf("testdevice: a cmd script is one line, got %q", c.Script)
		}
		return c.Script, nil
	}
	return "", fmt.Errorf("testdevice: shell %q is neither %q nor %q", c.Shell, sdk.PowerShell, sdk.Cmd)
}
