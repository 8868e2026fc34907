package targets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"strings"
	"sync"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
)

// Organisations lists organisations, for the credential each gives its
// devices by default.
type Organisations interface {
	Organisations(ctx context.Context) ([]inventory.Organisation, error)
}

// Credentials is the store of sealed credentials and of the check value
// of the key that sealed them.
type Credentials interface {
	// Credential returns the named credential, its secret sealed, or an
	// error wrapping errkind.NotFound.
	Credential(ctx context.Context, name string) (credential.Stored, error)
	// KeyCheck returns the stored key's check value (nil if none is
	// recorded) and how many credentials are stored.
	KeyCheck(ctx context.Context) (check []byte, credentials int, err error)
	// RecordKeyCheck records the key's check value where none is, and
	// fails with errkind.Conflict where another is.
	RecordKeyCheck(ctx context.Context, check []byte) error
}

// Keyring opens sealed secrets with one key; *credential.Keyring is one.
type Keyring interface {
	Open(name string, sealed []byte) (string, error)
	// Check is the key's check value; Matches compares one with it.
	Check() []byte
	Matches(check []byte) bool
}

// Profiles lists the connection profiles (store/sqlite's Inventory is
// one): the estate default (Org "") and the organisations'.
type Profiles interface {
	Connections(ctx context.Context) ([]inventory.Connection, error)
}

// Config is what a Resolver consumes.
type Config struct {
	Organisations Organisations
	Credentials   Credentials
	// Profiles are the connection profiles devices are reached through
	// (nil: none, only the Options).
	Profiles Profiles
	// Devices looks hostnames up for Device, Reach and Reacher (nil: only
	// Target and Targets, on devices the caller has).
	Devices Devices
	// KeyFile is the key file's path; LoadKey loads it and must never
	// create it (nil: credential.LoadKey).
	KeyFile string
	LoadKey func(path string) (Keyring, error)
	// Files bounds the files the options name.
	Files inputfile.Limit
	// Builtins are the executors served by this binary, by name, and how
	// to start each; Plugins finds the others (nil: only built-ins).
	Builtins map[string]host.Spec
	Plugins  Plugins
	Logger   *slog.Logger
}

// Resolver resolves devices to targets, opening each credential once. It
// is safe for concurrent use.
type Resolver struct {
	cfg      Config
	o        Options
	flagCA   []byte            // the Options' CA bundle, read
	flagOpts map[string]string // the Options' executor options, files read
	orgs     map[string]string // organisation code -> its default credential
	// Each organisation's profile and the default's, merged with the
	// Options; none is the Options alone, for devices of organisations
	// without a profile when there is no default either.
	profiles  map[string]*setting
	def, none *setting
	defCred   string // the default profile's credential
	warnings  []string

	mu    sync.Mutex // guards what follows: credentials are opened once
	creds map[string]login
	keys  Keyring
	// unchecked: no check value is recorded for the stored credentials'
	// key yet (a database from before them); Target records it on first
	// use.
	unchecked bool
}

type login struct{ username, password string }

// New reads the files the options name, the organisations' default
// credentials and the connection profiles, and lays the options over
// each profile (and over no profile, when there is no default), refusing
// a result that would send Basic passwords readable (see
// Options.CheckAuth: a *BasicAuthError, naming the profile). It does not
// return the warning forcing Basic calls for: the caller gets the
// options' own from CheckAuth and the profiles' from Warnings. It loads no key: the first
// Target that needs a credential does.
func New(ctx context.Context, cfg Config, o Options) (*Resolver, error) {
	if cfg.Organisations == nil || cfg.Credentials == nil {
		return nil, errors.New("targets: Config needs Organisations and Credentials")
	}
	if cfg.LoadKey == nil {
		cfg.LoadKey = loadKey
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Resolver{cfg: cfg, o: o, orgs: map[string]string{}, creds: map[string]login{}, profiles: map[string]*setting{}}
	orgs, err := cfg.Organisations.Organisations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read organisations: %w", err)
	}
	for _, org := range orgs {
		r.orgs[org.Code] = org.Credential
	}
	if o.CAFile != "" {
		if r.flagCA, err = cfg.Files.ReadFile(o.CAFile); err != nil {
			return nil, &FileError{Err: err}
		}
	}
	r.flagOpts = make(map[string]string, len(o.ExecutorOptions))
	for k, v := range o.ExecutorOptions {
		if v, err = readOption(cfg.Files, k, v); err != nil {
			return nil, err
		}
		r.flagOpts[k] = v
	}
	if cfg.Profiles != nil {
		profiles, err := cfg.Profiles.Connections(ctx)
		if err != nil {
			return nil, fmt.Errorf("read connection profiles: %w", err)
		}
		for i := range profiles {
			p := &profiles[i]
			s, err := r.merge(p)
			if err != nil {
				return nil, err
			}
			if p.Org == "" {
				r.def, r.defCred = s, p.Credential
			} else {
				r.profiles[p.Org] = s
			}
		}
	}
	if r.def == nil { // devices of organisations without a profile
		if r.none, err = r.merge(nil); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// readOption is an executor option's value: the contents of FILE for
// "@FILE", read under the limit.
func readOption(files inputfile.Limit, key, v string) (string, error) {
	file, ok := strings.CutPrefix(v, "@")
	if !ok {
		return v, nil
	}
	b, err := files.ReadFile(file)
	if err != nil {
		return "", &FileError{Option: key, Err: err}
	}
	return string(b), nil
}

// Warnings are what the profiles that let Basic send passwords readable
// call for the caller to show (the options' own come from CheckAuth).
func (r *Resolver) Warnings() []string { return r.warnings }

func loadKey(path string) (Keyring, error) {
	k, err := credential.LoadKey(path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// NoCredentialError is a device with no credential of its own whose
// organisation has no default credential and the estate default
// connection profile none either.
type NoCredentialError struct {
	Hostname, Org string
}

func (e *NoCredentialError) Error() string {
	return fmt.Sprintf("device %s has no credential, nor has organisation %s or the default connection profile (ringmaster org set-credential %s NAME, or ringmaster org set-connection --default --credential NAME)",
		e.Hostname, e.Org, e.Org)
}

// Reach is how to reach one device: its target, the executor that runs
// it, and where the CAs its certificate is checked against come from.
type Reach struct {
	Target   sdk.Target
	Org      string // the device's organisation
	Executor string // the executor's name
	Trust    Trust
}

// Resolve returns how to reach d: through its organisation's connection
// profile, else the estate default's, with the Options over it; its
// address (else its hostname), on the profile's port where the address
// names none; HTTPS when asked or the port is 5986; and its own
// credential, else its organisation's, else the default profile's (a
// *NoCredentialError if none).
func (r *Resolver) Resolve(ctx context.Context, d *inventory.Device) (Reach, error) {
	name := d.Credential
	if name == "" {
		name = r.orgs[d.Org]
	}
	if name == "" {
		name = r.defCred
	}
	if name == "" {
		return Reach{}, &NoCredentialError{Hostname: d.Hostname, Org: d.Org}
	}
	c, err := r.login(ctx, name)
	if err != nil {
		return Reach{}, err
	}
	s := r.setting(d.Org)
	address := withPort(d.Hostname, d.Address, s.port)
	t := sdk.Target{Hostname: d.Hostname, Address: d.Address, HTTPS: s.https || strings.HasSuffix(address, ":5986"),
		CACertPEM: s.ca, InsecureSkipVerify: s.insecure, Auth: s.auth, Username: c.username, Password: c.password,
		ConnectTimeout: r.o.ConnectTimeout, Options: s.options}
	if address != d.Hostname {
		t.Address = address
	}
	return Reach{Target: t, Org: d.Org, Executor: s.executor, Trust: s.trust}, nil
}

// Target returns how to reach d (see Resolve).
func (r *Resolver) Target(ctx context.Context, d *inventory.Device) (sdk.Target, error) {
	rc, err := r.Resolve(ctx, d)
	return rc.Target, err
}

// Targets returns the target of every device, in order; the first device
// that cannot be resolved stops it with its error, so that a batch starts
// only when every device in it can be reached.
func (r *Resolver) Targets(ctx context.Context, devices []*inventory.Device) ([]sdk.Target, error) {
	reaches, err := r.Reaches(ctx, devices)
	if err != nil {
		return nil, err
	}
	return TargetsOf(reaches), nil
}

// TargetsOf is the target of each reach, in order.
func TargetsOf(reaches []Reach) []sdk.Target {
	out := make([]sdk.Target, len(reaches))
	for i, rc := range reaches {
		out[i] = rc.Target
	}
	return out
}

// login opens the named credential, once.
func (r *Resolver) login(ctx context.Context, name string) (login, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if c, ok := r.creds[name]; ok {
		return c, nil
	}
	stored, err := r.cfg.Credentials.Credential(ctx, name)
	if err != nil {
		return login{}, err
	}
	if r.keys == nil {
		if r.keys, r.unchecked, err = r.unsealingKeyring(ctx); err != nil {
			return login{}, err
		}
	}
	secret, err := r.keys.Open(stored.Name, stored.Sealed)
	if err != nil {
		return login{}, fmt.Errorf("credential %s: %w (key file %s)", stored.Name, err, r.cfg.KeyFile)
	}
	if r.unchecked {
		// A database from before check values: the key that opened a
		// credential is theirs.
		if err := r.cfg.Credentials.RecordKeyCheck(ctx, r.keys.Check()); errors.Is(err, errkind.Conflict) {
			return login{}, KeyMismatch(r.cfg.KeyFile)
		} else if err != nil {
			return login{}, fmt.Errorf("record the key's check value: %w", err)
		}
		r.unchecked = false
	}
	c := login{stored.Username, secret}
	r.creds[name] = c
	return c, nil
}

// unsealingKeyring loads the key that opens the stored credentials: it
// never creates a key, and refuses a key file others may read or write
// and a key other than the one whose check value is recorded with the
// credentials. legacy says that none is recorded (a database from before
// check values).
func (r *Resolver) unsealingKeyring(ctx context.Context) (k Keyring, legacy bool, err error) {
	path := r.cfg.KeyFile
	check, n, err := r.cfg.Credentials.KeyCheck(ctx)
	if err != nil {
		return nil, false, err
	}
	k, err = r.cfg.LoadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, fmt.Errorf("%w: the %s cannot be opened without the key they were sealed with (set RINGMASTER_KEY_FILE to its file)",
			err, plural(n, "stored credential", "stored credentials"))
	}
	if err != nil {
		return nil, false, err
	}
	if check != nil && !k.Matches(check) {
		return nil, false, KeyMismatch(path)
	}
	return k, check == nil, nil
}

// KeyMismatch is the error for a key file whose key is not the one the
// stored credentials were sealed with; it wraps a
// *credential.KeyMismatchError.
func KeyMismatch(path string) error {
	return fmt.Errorf("%w (set RINGMASTER_KEY_FILE to the file of the key they were sealed with)", &credential.KeyMismatchError{Path: path})
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
