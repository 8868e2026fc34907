package targets

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
)

// setting is one connection profile merged with the Options: how the
// devices it serves are reached.
type setting struct {
	executor        string
	https, insecure bool
	port            int
	auth            string
	ca              []byte
	trust           Trust
	options         map[string]string
}

// setting is the profile org's devices are reached through: its own,
// else the default's, else the Options alone.
func (r *Resolver) setting(org string) *setting {
	if s, ok := r.profiles[org]; ok {
		return s
	}
	if r.def != nil {
		return r.def
	}
	return r.none
}

// merge lays the Options over p (nil: no profile) and checks the
// result's authentication (CheckAuth), keeping its warning.
func (r *Resolver) merge(p *inventory.Connection) (*setting, error) {
	o := &r.o
	stored := p != nil
	if p == nil {
		p = &inventory.Connection{}
	}
	s := &setting{executor: first(o.Executor, p.Executor, DefaultExecutor), https: o.HTTPS || p.HTTPS, insecure: o.InsecureSkipVerify,
		port: p.Port, auth: strings.ToLower(first(o.Auth, p.Auth, "ntlm")), options: maps.Clone(p.Options)}
	if o.Port != 0 {
		s.port = o.Port
	}
	switch {
	case o.CAFile != "":
		s.ca, s.trust = r.flagCA, Trust{Source: TrustOptions, Name: o.CAFile}
	case len(p.CACert) > 0:
		s.ca, s.trust = p.CACert, Trust{Source: TrustProfile, Org: p.Org, Name: p.CAName}
	default:
		s.trust = Trust{Source: TrustSystem}
	}
	if s.options == nil {
		s.options = map[string]string{}
	}
	maps.Copy(s.options, r.flagOpts)
	allow := o.AllowBasicWithoutTLS || p.AllowBasicWithoutTLS
	if allow {
		s.options[winrm.OptionAllowBasicWithoutTLS] = "true"
	}
	eff := Options{HTTPS: s.https, InsecureSkipVerify: s.insecure, Auth: s.auth, AllowBasicWithoutTLS: allow}
	warning, err := eff.CheckAuth()
	var basic *BasicAuthError
	if errors.As(err, &basic) && stored {
		basic.Profile = ProfileName(p.Org)
	}
	if err != nil {
		return nil, err
	}
	if warning != "" && !o.AllowBasicWithoutTLS {
		r.warnings = append(r.warnings, fmt.Sprintf("%s allows Basic without verified TLS: %s", ProfileName(p.Org), warning))
	}
	return s, nil
}

func first(vs ...string) string {
	for _, v := range vs {
		if v != "" {
			return v
		}
	}
	return ""
}

// withPort is where to connect: address (else hostname) with port added
// where it names none (port 0 adds none).
func withPort(hostname, address string, port int) string {
	if address == "" {
		address = hostname
	}
	if port == 0 {
		return address
	}
	if _, _, err := net.SplitHostPort(address); err == nil {
		return address
	}
	return net.JoinHostPort(strings.Trim(address, "[]"), strconv.Itoa(port))
}

// ProfileName names a connection profile in messages: "the default
// connection profile" for org "", else "organisation RXX's connection
// profile".
func ProfileName(org string) string {
	if org == "" {
		return "the default connection profile"
	}
	return "organisation " + org + "'s connection profile"
}

// TrustSource says where the CAs a device's certificate is checked
// against come from.
type TrustSource int

// Trust sources.
const (
	TrustSystem  TrustSource = iota // the system's roots
	TrustOptions                    // Options.CAFile (the CLI's --ca-file)
	TrustProfile                    // a connection profile's CA bundle
)

// Trust is where the CAs a device's certificate is checked against come
// from: the source, the profile's organisation ("" the default's) and
// the bundle's file as it was given.
type Trust struct {
	Source TrustSource
	Org    string
	Name   string
}

func (t Trust) String() string {
	switch t.Source {
	case TrustOptions:
		return fmt.Sprintf("the CA bundle %s given with the command (--ca-file)", t.Name)
	case TrustProfile:
		return fmt.Sprintf("the CA bundle of %s (read from %s)", ProfileName(t.Org), t.Name)
	}
	return "the system's trusted roots"
}

// TrustError is an executor's TLS failure (sdk.TLS) with the CAs the
// certificate was checked against and how to give others. It wraps the
// executor's error, so sdk.KindOf still finds its kind.
type TrustError struct {
	Hostname, Org string
	Trust         Trust
	Err           error
}

func (e *TrustError) Error() string {
	fix := fmt.Sprintf("ringmaster org set-connection %s --ca-file FILE (or --ca-file for one command)", e.Org)
	if e.Trust.Source == TrustOptions {
		fix = fmt.Sprintf("--ca-file, or for good with ringmaster org set-connection %s --ca-file FILE", e.Org)
	}
	return fmt.Sprintf("%v: the certificate was checked against %s; give the CA bundle that signs the devices' certificates with %s", e.Err, e.Trust, fix)
}

func (e *TrustError) Unwrap() error { return e.Err }

// explained is an executor whose TLS failures say which CAs were used
// (a *TrustError).
type explained struct {
	x     playbooks.Executor
	reach Reach
}

func (e explained) explain(err error) error {
	if err != nil && sdk.KindOf(err) == sdk.TLS {
		return &TrustError{Hostname: e.reach.Target.Hostname, Org: e.reach.Org, Trust: e.reach.Trust, Err: err}
	}
	return err
}

func (e explained) Probe(ctx context.Context, t sdk.Target) (sdk.ProbeResult, error) {
	res, err := e.x.Probe(ctx, t)
	return res, e.explain(err)
}

func (e explained) Exec(ctx context.Context, t sdk.Target, c sdk.Command, out func(sdk.Chunk)) (sdk.Result, error) {
	res, err := e.x.Exec(ctx, t, c, out)
	return res, e.explain(err)
}

// ConnectionStore stores connection profiles (store/sqlite's Inventory is
// one; see inventory.Store).
type ConnectionStore interface {
	SetConnection(ctx context.Context, c *inventory.Connection) error
}

// ProfileFiles are the files a profile being set names: the CA bundle,
// stored as its content (CAName keeps the path for messages), and the
// executor options whose value is "@FILE".
type ProfileFiles struct {
	CAFile string
}

// SetConnection checks c and stores it, returning the warning a profile
// that lets Basic send passwords readable calls for. It reads the CA
// bundle (files.CAFile, under Config.Files) into c.CACert and checks that
// it holds certificates, reads "@FILE" option values, checks that the
// executor is built in or registered (Config.Builtins, Config.Plugins)
// and that the built-in WinRM executor supports the scheme, and refuses
// Basic over plain HTTP unless c.AllowBasicWithoutTLS (a
// *BasicAuthError naming the profile).
func SetConnection(ctx context.Context, cfg Config, s ConnectionStore, c *inventory.Connection, files ProfileFiles) (warning string, err error) {
	c.Normalise()
	if files.CAFile != "" {
		b, err := cfg.Files.ReadFile(files.CAFile)
		if err != nil {
			return "", &FileError{Err: err}
		}
		if !x509.NewCertPool().AppendCertsFromPEM(b) {
			return "", &FileError{Err: fmt.Errorf("%s holds no PEM certificate", files.CAFile)}
		}
		c.CACert, c.CAName = b, files.CAFile
	}
	for k, v := range c.Options {
		if c.Options[k], err = readOption(cfg.Files, k, v); err != nil {
			return "", err
		}
	}
	if err := c.Validate(); err != nil {
		return "", err
	}
	executor := first(c.Executor, DefaultExecutor)
	if _, builtin := cfg.Builtins[executor]; !builtin && cfg.Builtins != nil {
		if cfg.Plugins == nil {
			return "", &inventory.FieldError{Field: "executor", Value: executor, Msg: "is not built in, and no plugins are registered"}
		}
		if _, err := cfg.Plugins.Plugin(ctx, executor); err != nil {
			return "", fmt.Errorf("executor: %w", err)
		}
	}
	if executor == DefaultExecutor && c.Auth != "" && c.Auth != "ntlm" && c.Auth != "negotiate" && c.Auth != "basic" {
		return "", &inventory.FieldError{Field: "auth", Value: c.Auth, Msg: "is not supported by the winrm executor (ntlm or basic)"}
	}
	o := Options{HTTPS: c.HTTPS, Auth: c.Auth, AllowBasicWithoutTLS: c.AllowBasicWithoutTLS}
	warning, err = o.CheckAuth()
	var basic *BasicAuthError
	if errors.As(err, &basic) {
		basic.Profile = ProfileName(c.Org)
	}
	if err != nil {
		return "", err
	}
	return warning, s.SetConnection(ctx, c)
}

// EditProfile returns the profile to change for org ("" the default),
// for a caller to lay the changes over and hand to SetConnection: the
// stored one; else, for an organisation, a new one that starts from the
// default's transport, with the organisation's own credential; else, for
// the default, an empty one. An unknown organisation is errkind.NotFound.
func EditProfile(ctx context.Context, s ProfileReader, org string) (inventory.Connection, error) {
	p, err := s.Connection(ctx, org)
	switch {
	case errors.Is(err, errkind.NotFound) && org != "":
		o, err := s.Organisation(ctx, org)
		if err != nil {
			return inventory.Connection{}, err
		}
		// A new profile starts from the default's transport.
		p, err = s.Connection(ctx, "")
		if err != nil && !errors.Is(err, errkind.NotFound) {
			return inventory.Connection{}, err
		}
		p.Org, p.Credential = o.Code, o.Credential
	case errors.Is(err, errkind.NotFound):
		p = inventory.Connection{}
	case err != nil:
		return inventory.Connection{}, err
	}
	return p, nil
}

// Profile is the connection profile that serves an organisation's
// devices, as shown to a person: the CA bundle by where it was read from
// and how many certificates it holds, executor options by key.
type Profile struct {
	From                 string    `json:"from"` // "organisation", "default" or "none"
	Executor             string    `json:"executor"`
	HTTPS                bool      `json:"https"`
	Port                 int       `json:"port,omitempty"`
	Auth                 string    `json:"auth"`
	AllowBasicWithoutTLS bool      `json:"allow_basic_without_tls,omitempty"`
	CA                   string    `json:"ca"`
	Options              []string  `json:"options,omitempty"`
	Credential           string    `json:"credential,omitempty"`
	UpdatedAt            time.Time `json:"updated_at,omitzero"`
}

// ProfileReader reads connection profiles and organisations
// (store/sqlite's Inventory is one).
type ProfileReader interface {
	Organisation(ctx context.Context, code string) (inventory.Organisation, error)
	Connection(ctx context.Context, org string) (inventory.Connection, error)
}

// ShowProfile returns the profile that serves org's devices ("" the
// default): its own, else the default's, else none; the credential is
// the organisation's, else the default profile's.
func ShowProfile(ctx context.Context, s ProfileReader, org string) (Profile, error) {
	var own string
	if org != "" {
		o, err := s.Organisation(ctx, org)
		if err != nil {
			return Profile{}, err
		}
		org, own = o.Code, o.Credential
	}
	p := Profile{From: "organisation"}
	c, err := s.Connection(ctx, org)
	if errors.Is(err, errkind.NotFound) && org != "" {
		p.From = "default"
		c, err = s.Connection(ctx, "")
	}
	switch {
	case errors.Is(err, errkind.NotFound):
		p.From, c = "none", inventory.Connection{}
	case err != nil:
		return Profile{}, err
	}
	p.Executor, p.HTTPS, p.Port, p.Auth, p.AllowBasicWithoutTLS = first(c.Executor, DefaultExecutor), c.HTTPS, c.Port, first(c.Auth, "ntlm"), c.AllowBasicWithoutTLS
	p.CA, p.Credential, p.UpdatedAt = "system roots", first(own, c.Credential), c.UpdatedAt
	if p.Credential == "" && p.From == "organisation" {
		if d, err := s.Connection(ctx, ""); err == nil {
			p.Credential = d.Credential
		}
	}
	if len(c.CACert) > 0 {
		p.CA = fmt.Sprintf("%s (%d bytes, stored)", c.CAName, len(c.CACert))
	}
	p.Options = slices.Sorted(maps.Keys(c.Options))
	return p, nil
}

// String is the profile on one line.
func (p Profile) String() string {
	scheme := "HTTP"
	if p.HTTPS {
		scheme = "HTTPS"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s over %s", p.Executor, scheme)
	if p.Port != 0 {
		fmt.Fprintf(&b, " port %d", p.Port)
	}
	fmt.Fprintf(&b, ", %s, CA %s", p.Auth, p.CA)
	if p.AllowBasicWithoutTLS {
		b.WriteString(", Basic allowed without TLS")
	}
	if len(p.Options) > 0 {
		fmt.Fprintf(&b, ", options %s", strings.Join(p.Options, ","))
	}
	return b.String()
}
