package targets_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/plugins/sdk"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

const testCA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUJ6m1\n-----END CERTIFICATE-----\n"

// TestProfiles resolves devices through connection profiles stored in the
// real store: the organisation's, else the default's, else none, with
// the options over them, and the credential device, organisation, then
// default.
func TestProfiles(t *testing.T) {
	ctx := context.Background()
	selfCA := filepath.Join(t.TempDir(), "flag-ca.pem")
	if err := os.WriteFile(selfCA, []byte("flag CA"), 0o600); err != nil {
		t.Fatal(err)
	}
	defProfile := inventory.Connection{HTTPS: true, Port: 5986, CACert: []byte(testCA), CAName: "estate-ca.pem", Credential: "org-admin"}
	rxxProfile := inventory.Connection{Org: "RXX", Executor: "winrm2", Port: 15985, Options: map[string]string{"k": "profile", "j": "kept"}, Credential: "org-admin"}
	for _, tc := range []struct {
		name     string
		profiles []inventory.Connection
		opts     targets.Options
		host     string
		// want
		address, executor, user, auth string
		https                         bool
		trust                         targets.Trust
		options                       map[string]string
	}{
		{name: "no profile", host: "pc1.rxx.nhs.uk", address: "10.0.0.1", executor: "winrm", user: `NHS\dev`, auth: "ntlm",
			trust: targets.Trust{Source: targets.TrustSystem}},
		{name: "the default's", profiles: []inventory.Connection{defProfile}, host: "pc1.rxx.nhs.uk", address: "10.0.0.1:5986", https: true,
			executor: "winrm", user: `NHS\dev`, auth: "ntlm", trust: targets.Trust{Source: targets.TrustProfile, Name: "estate-ca.pem"}},
		{name: "the default's credential", profiles: []inventory.Connection{defProfile}, host: "pc3.ryy.nhs.uk", address: "pc3.ryy.nhs.uk:5986",
			https: true, executor: "winrm", user: `NHS\org`, auth: "ntlm", trust: targets.Trust{Source: targets.TrustProfile, Name: "estate-ca.pem"}},
		{name: "the organisation's over the default's", profiles: []inventory.Connection{defProfile, rxxProfile}, host: "pc1.rxx.nhs.uk",
			address: "10.0.0.1:15985", executor: "winrm2", user: `NHS\dev`, auth: "ntlm", trust: targets.Trust{Source: targets.TrustSystem},
			options: map[string]string{"k": "profile", "j": "kept"}},
		{name: "an address's own port stays", profiles: []inventory.Connection{rxxProfile}, host: "pc2.rxx.nhs.uk", address: "10.0.0.2:5986",
			https: true, executor: "winrm2", user: `NHS\org`, auth: "ntlm", trust: targets.Trust{Source: targets.TrustSystem}},
		{name: "options override", profiles: []inventory.Connection{defProfile, rxxProfile}, host: "pc1.rxx.nhs.uk",
			opts:    targets.Options{Executor: "winrm", Port: 6000, CAFile: selfCA, Auth: "BASIC", HTTPS: true, ExecutorOptions: map[string]string{"k": "flag"}},
			address: "10.0.0.1:6000", https: true, executor: "winrm", user: `NHS\dev`, auth: "basic",
			trust: targets.Trust{Source: targets.TrustOptions, Name: selfCA}, options: map[string]string{"k": "flag", "j": "kept"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEstate(t)
			for _, p := range tc.profiles {
				if err := e.store.SetConnection(ctx, &p); err != nil {
					t.Fatal(err)
				}
			}
			cfg := e.config()
			cfg.Profiles = e.store
			r, err := targets.New(ctx, cfg, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := r.Resolve(ctx, e.device(t, tc.host))
			if err != nil {
				t.Fatal(err)
			}
			tg := rc.Target
			if tg.Address != tc.address || tg.HTTPS != tc.https || rc.Executor != tc.executor || tg.Username != tc.user || tg.Auth != tc.auth || rc.Trust != tc.trust {
				t.Errorf("%s at %q https=%v through %s as %s (%s), trusting %+v", tg.Hostname, tg.Address, tg.HTTPS, rc.Executor, tg.Username, tg.Auth, rc.Trust)
			}
			if (tc.trust.Source == targets.TrustSystem) != (tg.CACertPEM == nil) {
				t.Errorf("CA %q for trust %+v", tg.CACertPEM, rc.Trust)
			}
			for k, v := range tc.options {
				if tg.Options[k] != v {
					t.Errorf("option %s = %q, want %q", k, tg.Options[k], v)
				}
			}
		})
	}
}

// TestProfileBasic: a profile that would send Basic passwords readable is
// refused when set unless it allows it, which warns when set and when
// used; options that make a stored profile do so are refused naming it.
func TestProfileBasic(t *testing.T) {
	ctx := context.Background()
	e := newEstate(t)
	cfg := e.config()
	cfg.Profiles = e.store
	var basic *targets.BasicAuthError
	_, err := targets.SetConnection(ctx, cfg, e.store, &inventory.Connection{Org: "RXX", Auth: "basic"}, targets.ProfileFiles{})
	if !errors.As(err, &basic) || basic.Profile != "organisation RXX's connection profile" {
		t.Fatalf("basic over http: %v", err)
	}
	if _, err := e.store.Connection(ctx, "RXX"); err == nil {
		t.Fatal("a refused profile was stored")
	}
	warning, err := targets.SetConnection(ctx, cfg, e.store, &inventory.Connection{Org: "RXX", Auth: "basic", AllowBasicWithoutTLS: true}, targets.ProfileFiles{})
	if err != nil || warning == "" {
		t.Fatalf("basic allowed: warning %q, %v", warning, err)
	}
	r, err := targets.New(ctx, cfg, targets.Options{})
	if err != nil || len(r.Warnings()) != 1 || !strings.Contains(r.Warnings()[0], "organisation RXX's connection profile") {
		t.Fatalf("warnings %q, %v", r.Warnings(), err)
	}
	if _, err := targets.SetConnection(ctx, cfg, e.store, &inventory.Connection{HTTPS: true}, targets.ProfileFiles{}); err != nil {
		t.Fatal(err)
	}
	// --auth basic over the default's HTTPS is fine, over RYY's... RYY has
	// none and uses the default; with --insecure-skip-verify it is not.
	if _, err := targets.New(ctx, cfg, targets.Options{Auth: "basic"}); err != nil {
		t.Fatalf("basic over the default's https: %v", err)
	}
	_, err = targets.New(ctx, cfg, targets.Options{Auth: "basic", InsecureSkipVerify: true, HTTPS: true})
	if !errors.As(err, &basic) || !basic.Unverified {
		t.Fatalf("basic over unverified https: %v", err)
	}
	// Files: a CA bundle that is not PEM, one over the limit, an
	// executor nobody registered, a scheme winrm does not speak.
	notPEM := filepath.Join(e.dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(e.dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.Builtins = map[string]host.Spec{"winrm": {}}
	cfg.Plugins = e.db.Plugins()
	for name, tc := range map[string]struct {
		c     inventory.Connection
		files targets.ProfileFiles
		want  string
	}{
		"not PEM":          {files: targets.ProfileFiles{CAFile: notPEM}, want: "holds no PEM certificate"},
		"too large":        {files: targets.ProfileFiles{CAFile: big}, want: "--max-file-size"},
		"unknown":          {c: inventory.Connection{Executor: "ssh"}, want: "plugin ssh: not found"},
		"kerberos":         {c: inventory.Connection{Auth: "kerberos"}, want: "not supported by the winrm executor"},
		"an option's file": {c: inventory.Connection{Options: map[string]string{"known_hosts": "@" + big}}, want: "executor option known_hosts"},
	} {
		c := tc.c
		if _, err := targets.SetConnection(ctx, cfg, e.store, &c, tc.files); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

// TestProfilesSimulated: one Reacher drives organisations whose profiles
// name different executors against a simulated HTTPS fleet, starting
// each once; a device whose profile trusts the system's roots fails with
// a TLS error that says so and how to give the CA; set, it answers.
func TestProfilesSimulated(t *testing.T) {
	if _, err := os.Stat("/proc/self/exe"); err != nil {
		t.Skip("plugins run on Linux only")
	}
	ctx := context.Background()
	spec := func(host string) device.Spec {
		return device.Spec{Hostname: host, Caption: "Microsoft Windows 10 Enterprise", Edition: "Enterprise", Build: "10.0.19045", UBR: 3803, DiskFreeGB: 40, RAMGB: 8}
	}
	f, err := fleetsim.Start(ctx, fleetsim.Config{Username: "svc", Password: "Fleet-Secret-1", HTTPS: true,
		FirstAddress: net.IPv4(127, byte(100+rand.IntN(150)), byte(1+rand.IntN(250)), 1),
		Devices:      []device.Spec{spec("pa.rxx.nhs.uk"), spec("pb.ryy.nhs.uk")}})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	eps := f.Endpoints()
	e := newEstateWith(t, "pa.rxx.nhs.uk,RXX,"+eps[0].Address(true)+",fleet-admin\npb.ryy.nhs.uk,RYY,"+eps[1].Address(true)+",fleet-admin\n")
	ca := e.joinFleet(t, f)
	cfg := e.config()
	cfg.Files.Max = 1 << 20
	cfg.Devices, cfg.Profiles = e.store, e.store
	self := host.Spec{Name: "winrm", Self: true, Args: []string{"executor-plugin", "winrm"}}
	other := self
	other.Name = "winrm-b"
	cfg.Builtins = map[string]host.Spec{"winrm": self, "winrm-b": other}
	set := func(c inventory.Connection, files targets.ProfileFiles) {
		t.Helper()
		if _, err := targets.SetConnection(ctx, cfg, e.store, &c, files); err != nil {
			t.Fatal(err)
		}
	}
	set(inventory.Connection{Org: "RXX", HTTPS: true, Credential: "org-admin"}, targets.ProfileFiles{CAFile: ca})
	set(inventory.Connection{Org: "RYY", Executor: "winrm-b", HTTPS: true}, targets.ProfileFiles{})

	probe := func() map[string]error {
		r, err := targets.New(ctx, cfg, targets.Options{ConnectTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		xs := r.Executors()
		defer xs.Close()
		rc := targets.Reacher{Resolver: r, Executors: xs}
		out := map[string]error{}
		for _, h := range []string{"pa.rxx.nhs.uk", "pb.ryy.nhs.uk"} {
			tg, x, err := rc.Reach(ctx, h)
			if err == nil {
				_, err = x.Probe(ctx, tg)
			}
			out[h] = err
		}
		started := xs.Started()
		slices.Sort(started)
		if !slices.Equal(started, []string{"winrm", "winrm-b"}) {
			t.Errorf("executors started: %v", started)
		}
		xs.Close()
		if _, err := xs.Get(ctx, "winrm"); !errors.Is(err, targets.ErrClosed) {
			t.Errorf("Get after Close: %v", err)
		}
		return out
	}
	got := probe()
	var trust *targets.TrustError
	if got["pa.rxx.nhs.uk"] != nil || !errors.As(got["pb.ryy.nhs.uk"], &trust) || sdk.KindOf(got["pb.ryy.nhs.uk"]) != sdk.TLS ||
		trust.Trust.Source != targets.TrustSystem || !strings.Contains(trust.Error(), "system's trusted roots") ||
		!strings.Contains(trust.Error(), "ringmaster org set-connection RYY --ca-file FILE") {
		t.Fatalf("probes: %v", got)
	}
	set(inventory.Connection{Org: "RYY", Executor: "winrm-b", HTTPS: true}, targets.ProfileFiles{CAFile: ca})
	if got := probe(); got["pa.rxx.nhs.uk"] != nil || got["pb.ryy.nhs.uk"] != nil {
		t.Fatalf("probes with RYY's CA set: %v", got)
	}
}

// TestEditProfile: the profile set-connection changes is the stored one,
// else for an organisation a new one on the default's transport with the
// organisation's own credential, else an empty one.
func TestEditProfile(t *testing.T) {
	ctx := context.Background()
	def := inventory.Connection{HTTPS: true, Port: 5986, CACert: []byte(testCA), CAName: "estate-ca.pem", Credential: "device-admin"}
	rxx := inventory.Connection{Org: "RXX", Executor: "winrm2", Port: 15985}
	for _, tc := range []struct {
		name     string
		profiles []inventory.Connection
		org      string
		want     inventory.Connection
		err      error
	}{
		{name: "an organisation's own", profiles: []inventory.Connection{def, rxx}, org: "RXX", want: rxx},
		{name: "a new one on the default's transport", profiles: []inventory.Connection{def, rxx}, org: "RYY",
			want: inventory.Connection{Org: "RYY", HTTPS: true, Port: 5986, CACert: []byte(testCA), CAName: "estate-ca.pem"}},
		{name: "with the organisation's credential", profiles: []inventory.Connection{def}, org: "rxx",
			want: inventory.Connection{Org: "RXX", HTTPS: true, Port: 5986, CACert: []byte(testCA), CAName: "estate-ca.pem", Credential: "org-admin"}},
		{name: "a new one with no default", org: "RXX", want: inventory.Connection{Org: "RXX", Credential: "org-admin"}},
		{name: "the default", profiles: []inventory.Connection{def, rxx}, want: def},
		{name: "no default yet", profiles: []inventory.Connection{rxx}, want: inventory.Connection{}},
		{name: "an unknown organisation", profiles: []inventory.Connection{def}, org: "RZZ", err: errkind.NotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEstate(t)
			for _, p := range tc.profiles {
				if err := e.store.SetConnection(ctx, &p); err != nil {
					t.Fatal(err)
				}
			}
			got, err := targets.EditProfile(ctx, e.store, tc.org)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.UpdatedAt = time.Time{}
			if got.Org != tc.want.Org || got.Executor != tc.want.Executor || got.HTTPS != tc.want.HTTPS || got.Port != tc.want.Port ||
				string(got.CACert) != string(tc.want.CACert) || got.CAName != tc.want.CAName || got.Credential != tc.want.Credential {
				t.Errorf("got %+v\nwant %+v", got, tc.want)
			}
		})
	}
}
