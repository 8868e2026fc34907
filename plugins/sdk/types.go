package sdk

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Executor runs commands on, and reads facts from, devices over one
// transport. Implementations are safe for concurrent use.
type Executor interface {
	// Info describes the executor.
	Info(ctx context.Context) (Info, error)
	// Probe connects to the target and reads its facts. A device that
	// cannot be reached returns an error of kind Unreachable.
	Probe(ctx context.Context, t Target) (ProbeResult, error)
	// Exec runs one command. Output is passed to out, in order, as it
	// arrives (out may be nil); the Result holds all of it as well. A
	// command that ran and exited non-zero returns its Result with an error
	// of kind CommandFailed.
	Exec(ctx context.Context, t Target, c Command, out func(Chunk)) (Result, error)
}

// Info describes an executor.
type Info struct {
	Name         string   // e.g. "winrm"
	Version      string   // the executor's own version
	Capabilities []string // e.g. "probe", "exec", "powershell", "cmd", "stream"
}

// Target is a device and how to reach it.
type Target struct {
	Hostname string // DNS name, as in the inventory
	Address  string // host[:port] to connect to; empty means Hostname and the transport's default port
	// TLS settings, for transports that use it.
	HTTPS              bool
	CACertPEM          []byte // trust these CAs instead of the system roots
	InsecureSkipVerify bool   // only when a target explicitly says so
	TLSServerName      string // name to verify; default the host part of Address, else Hostname
	// Auth is the authentication scheme ("basic", "ntlm", ...); the
	// executor documents which it supports.
	Auth     string
	Username string
	Password string // never logged, never in an error, never on a command line
	// ConnectTimeout bounds connecting and each protocol round trip.
	ConnectTimeout time.Duration
	// Options carries transport-specific settings the executor documents.
	Options map[string]string
}

// String describes the target without its password, so that logging or
// printing a Target (%v, %+v, %s) cannot reveal it.
func (t Target) String() string {
	r := t
	if r.Password != "" {
		r.Password = "[redacted]"
	}
	type plain Target // no String method: formats the fields
	return fmt.Sprintf("%+v", plain(r))
}

// GoString is String, for %#v.
func (t Target) GoString() string { return "sdk.Target" + t.String() }

// LogValue logs the target without its password.
func (t Target) LogValue() slog.Value {
	return slog.GroupValue(slog.String("hostname", t.Hostname), slog.String("address", t.Address), slog.Bool("https", t.HTTPS),
		slog.String("auth", t.Auth), slog.String("username", t.Username))
}

// Shell is the interpreter a script runs in.
type Shell string

// Shells.
const (
	PowerShell Shell = "powershell"
	Cmd        Shell = "cmd"
)

// Command is one script to run.
type Command struct {
	Shell   Shell
	Script  string
	Stdin   []byte
	Timeout time.Duration // the whole command, including waiting for output; 0 = none
}

// Stream names where a chunk of output came from.
type Stream string

// Output streams.
const (
	Stdout Stream = "stdout"
	Stderr Stream = "stderr"
)

// Chunk is a piece of output.
type Chunk struct {
	Stream Stream
	Data   []byte
}

// Result is what a command produced.
type Result struct {
	Stdout, Stderr []byte
	ExitCode       int
	Duration       time.Duration
}

// Facts are what a probe observed about a device.
type Facts struct {
	Hostname     string // computer name as the device reports it
	OSCaption    string
	OSEdition    string
	OSBuild      string // major.minor.build, e.g. 10.0.19045
	UBR          int
	KBs          []string // installed updates, e.g. KB5034441
	DiskFreeGB   float64  // system drive
	RAMGB        float64
	Manufacturer string
	Model        string
	// Serial is the BIOS serial number (Win32_BIOS.SerialNumber), empty
	// when not observed. Added after the first release of protocol
	// version 1: a plugin built before it sends none, which Ringmaster
	// reads as not observed, so it needs no change.
	Serial        string
	LastBoot      time.Time
	PendingReboot bool
}

// ProbeResult is a probe's outcome.
type ProbeResult struct {
	Facts      Facts
	ObservedAt time.Time
}
