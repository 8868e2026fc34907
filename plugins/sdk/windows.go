package sdk

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// WindowsFactsScript is a PowerShell script that reads every fact an
// executor reports, for any transport that can run PowerShell on Windows,
// in one round trip. Each section starts with a marker line, so a section
// that prints nothing (no hotfixes) cannot shift
// the others. It uses only Windows PowerShell 5.1 cmdlets available on every
// Windows 10 and Windows 7 SP1 with WMF 5.1.
const WindowsFactsScript = `$ErrorActionPreference = 'Continue'
Write-Output '#host'
hostname
Write-Output '#os'
Get-CimInstance Win32_OperatingSystem | Select-Object Caption,Version,LastBootUpTime | ConvertTo-Json -Compress
Write-Output '#cv'
Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' | Select-Object EditionID,UBR | ConvertTo-Json -Compress
Write-Output '#cs'
Get-CimInstance Win32_ComputerSystem | Select-Object Manufacturer,Model,TotalPhysicalMemory | ConvertTo-Json -Compress
Write-Output '#bios'
Get-CimInstance Win32_BIOS | Select-Object SerialNumber | ConvertTo-Json -Compress
Write-Output '#disk'
(Get-CimInstance Win32_LogicalDisk -Filter "DeviceID='C:'").FreeSpace
Write-Output '#kbs'
Get-HotFix | Select-Object -ExpandProperty HotFixID
Write-Output '#reboot'
Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\Component Based Servicing\RebootPending'
Test-Path 'HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\WindowsUpdate\Auto Update\RebootRequired'
Write-Output '#end'`

// ProbeWindows is Probe for an executor whose Exec runs PowerShell on
// Windows, whatever its transport: it runs WindowsFactsScript through
// x.Exec and parses what it prints. A failure to run it keeps its kind
// (its Op becomes "probe"); a cmdlet that failed on the way may set a
// non-zero exit code, and the output still counts; output that is not the
// script's is a Protocol error.
func ProbeWindows(ctx context.Context, x Executor, t Target) (ProbeResult, error) {
	res, err := x.Exec(ctx, t, Command{Shell: PowerShell, Script: WindowsFactsScript}, nil)
	if err != nil && !IsKind(err, CommandFailed) {
		var se *Error
		if errors.As(err, &se) {
			se.Op = "probe"
		}
		return ProbeResult{}, err
	}
	f, err := ParseWindowsFacts(string(res.Stdout))
	if err != nil {
		return ProbeResult{}, &Error{Kind: Protocol, Op: "probe", Target: t.Hostname, Err: fmt.Errorf("reading the facts script's output: %w", err)}
	}
	return ProbeResult{Facts: f, ObservedAt: time.Now().UTC()}, nil
}

// ParseWindowsFacts reads what WindowsFactsScript prints.
func ParseWindowsFacts(out string) (Facts, error) {
	var f Facts
	sections := map[string][]string{}
	cur := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") && len(line) > 1 && !strings.Contains(line, " ") {
			cur = line[1:]
			sections[cur] = nil
			continue
		}
		if cur != "" && line != "" {
			sections[cur] = append(sections[cur], line)
		}
	}
	if _, ok := sections["end"]; !ok {
		return f, fmt.Errorf("facts output is incomplete (no #end marker): %q", truncate(out, 200))
	}
	one := func(name string) string {
		if v := sections[name]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	f.Hostname = one("host")
	var os struct {
		Caption, Version string
		LastBootUpTime   json.RawMessage
	}
	if err := json.Unmarshal([]byte(one("os")), &os); err != nil {
		return f, fmt.Errorf("Win32_OperatingSystem: %w", err)
	}
	f.OSCaption, f.OSBuild, f.LastBoot = os.Caption, os.Version, psDate(os.LastBootUpTime)
	var cv struct {
		EditionID string
		UBR       *int
	}
	if err := json.Unmarshal([]byte(one("cv")), &cv); err != nil {
		return f, fmt.Errorf("CurrentVersion: %w", err)
	}
	f.OSEdition = cv.EditionID
	if cv.UBR != nil {
		f.UBR = *cv.UBR
	}
	var cs struct {
		Manufacturer, Model string
		TotalPhysicalMemory float64
	}
	if err := json.Unmarshal([]byte(one("cs")), &cs); err != nil {
		return f, fmt.Errorf("Win32_ComputerSystem: %w", err)
	}
	f.Manufacturer, f.Model = cs.Manufacturer, cs.Model
	f.RAMGB = round1(cs.TotalPhysicalMemory / (1 << 30))
	if b := one("bios"); b != "" { // absent from the output of an older script
		var bios struct{ SerialNumber string }
		if err := json.Unmarshal([]byte(b), &bios); err != nil {
			return f, fmt.Errorf("Win32_BIOS: %w", err)
		}
		f.Serial = serial(bios.SerialNumber)
	}
	if d := one("disk"); d != "" {
		n, err := strconv.ParseFloat(d, 64)
		if err != nil {
			return f, fmt.Errorf("disk free %q: %w", d, err)
		}
		f.DiskFreeGB = round1(n / (1 << 30))
	}
	for _, kb := range sections["kbs"] {
		if strings.HasPrefix(strings.ToUpper(kb), "KB") {
			f.KBs = append(f.KBs, strings.ToUpper(kb))
		}
	}
	for _, v := range sections["reboot"] {
		f.PendingReboot = f.PendingReboot || strings.EqualFold(v, "True")
	}
	return f, nil
}

// psDate reads a date as ConvertTo-Json writes it: "\/Date(ms)\/" in
// Windows PowerShell 5.1, an ISO 8601 string in PowerShell 7.
func psDate(raw json.RawMessage) time.Time {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return time.Time{}
	}
	if ms, ok := strings.CutPrefix(s, "/Date("); ok {
		ms, _, _ = strings.Cut(ms, ")")
		ms, _, _ = strings.Cut(ms, "+") // "/Date(ms+0100)/" carries an offset; ms is UTC
		n, err := strconv.ParseInt(ms, 10, 64)
		if err == nil {
			return time.UnixMilli(n).UTC()
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC()
	}
	return time.Time{}
}

// serial returns a BIOS serial number, or "" for the placeholders that
// firmware left unset reports instead of one (so that thousands of devices
// do not share the serial "To Be Filled By O.E.M.").
func serial(s string) string {
	s = strings.TrimSpace(s)
	switch strings.ToLower(s) {
	case "", "0", "none", "default string", "system serial number", "to be filled by o.e.m.", "not specified", "not applicable", "chassis serial number":
		return ""
	}
	return s
}

func round1(f float64) float64 { return float64(int64(f*10+0.5)) / 10 }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
