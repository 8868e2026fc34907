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
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
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

// Config is what a Resolver consumes.
type Config struct {
	Organisations Organisations
	Credentials   Credentials
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
	cfg     Config
	o       Options
	ca      []byte
	options map[string]string
	orgs    map[string]string // organisation code -> its default credential

	mu    sync.Mutex // guards what follows: credentials are opened once
	creds map[string]login
	keys  Keyring
	// unchecked: no check value is recorded for the stored credentials'
	// key yet (a database from before them); Target records it on first
	// use.
	unchecked bool
}

type login struct{ username, password string }

// New checks the options (see Options.CheckAuth; it does not return the
// warning, which the caller gets from CheckAuth), reads the files they
// name and the organisations' default credentials. It loads no key: the
// first Target that needs a credential does.
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
	if _, err := o.CheckAuth(); err != nil {
		return nil, err
	}
	r := &Resolver{cfg: cfg, o: o, orgs: map[string]string{}, creds: map[string]login{}}
	orgs, err := cfg.Organisations.Organisations(ctx)
	if err != nil {
		return nil, fmt.Errorf("read organisations: %w", err)
	}
	for _, org := range orgs {
		r.orgs[org.Code] = org.Credential
	}
	if o.CAFile != "" {
		if r.ca, err = cfg.Files.ReadFile(o.CAFile); err != nil {
			return nil, &FileError{Err: err}
		}
	}
	r.options = make(map[string]string, len(o.ExecutorOptions)+1)
	for k, v := range o.ExecutorOptions {
		if file, ok := strings.CutPrefix(v, "@"); ok {
			b, err := cfg.Files.ReadFile(file)
			if err != nil {
				return nil, &FileError{Option: k, Err: err}
			}
			v = string(b)
		}
		r.options[k] = v
	}
	if o.AllowBasicWithoutTLS {
		r.options[winrm.OptionAllowBasicWithoutTLS] = "true"
	}
	return r, nil
}

func loadKey(path string) (Keyring, error) {
	k, err := credential.LoadKey(path)
	if err != nil {
		return nil, err
	}
	return k, nil
}

// NoCredentialError is a device with no credential of its own whose
// organisation has no default credential either.
type NoCredentialError struct {
	Hostname, Org string
}

func (e *NoCredentialError) Error() string {
	return fmt.Sprintf("device %s has no credential and organisation %s has none either (ringmaster org set-credential %s NAME)", e.Hostname, e.Org, e.Org)
}

// Target returns how to reach d: its address (else its hostname), HTTPS
// when the options say so or the address is on port 5986, and its own
// credential, else its organisation's (a *NoCredentialError if neither).
func (r *Resolver) Target(ctx context.Context, d *inventory.Device) (sdk.Target, error) {
	name := d.Credential
	if name == "" {
		name = r.orgs[d.Org]
	}
	if name == "" {
		return sdk.Target{}, &NoCredentialError{Hostname: d.Hostname, Org: d.Org}
	}
	c, err := r.login(ctx, name)
	if err != nil {
		return sdk.Target{}, err
	}
	o := &r.o
	auth := o.Auth
	if auth == "" {
		auth = "ntlm"
	}
	return sdk.Target{Hostname: d.Hostname, Address: d.Address, HTTPS: o.HTTPS || strings.HasSuffix(d.Address, ":5986"),
		CACertPEM: r.ca, InsecureSkipVerify: o.InsecureSkipVerify, Auth: auth, Username: c.username, Password: c.password,
		ConnectTimeout: o.ConnectTimeout, Options: r.options}, nil
}

// Targets returns the target of every device, in order; the first device
// that cannot be resolved stops it with its error, so that a batch starts
// only when every device in it can be reached.
func (r *Resolver) Targets(ctx context.Context, devices []*inventory.Device) ([]sdk.Target, error) {
	out := make([]sdk.Target, len(devices))
	for i, d := range devices {
		t, err := r.Target(ctx, d)
		if err != nil {
			return nil, err
		}
		out[i] = t
	}
	return out, nil
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
