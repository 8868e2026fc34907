package targets_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/internal/inputfile"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

var testNow = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// estate is a real inventory: organisation RXX logs on with org-admin by
// default, RYY has no credential; pc1 names its own credential.
type estate struct {
	db      *sqlite.DB
	store   *sqlite.Inventory
	creds   *sqlite.Credentials
	keyFile string
	dir     string
}

func newEstate(t *testing.T) *estate { return newEstateWith(t, "") }

// newEstateWith adds devices (CSV rows: hostname,org,address,credential).
func newEstateWith(t *testing.T, rows string) *estate {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "test.db"), sqlite.Options{Now: func() time.Time { return testNow }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, creds := db.Inventory(), db.Credentials()
	for _, code := range []string{"RXX", "RYY"} {
		if err := s.CreateOrganisation(ctx, &inventory.Organisation{Code: code, Name: "Trust " + code, TimeZone: "Europe/London"}); err != nil {
			t.Fatal(err)
		}
	}
	e := &estate{db: db, store: s, creds: creds, keyFile: filepath.Join(dir, "test.db.key"), dir: dir}
	k, err := credential.CreateKey(e.keyFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, user, secret string }{{"org-admin", `NHS\org`, "Org-Secret-1"}, {"device-admin", `NHS\dev`, "Dev-Secret-1"}} {
		if err := creds.AddCredential(ctx, c.name, c.user, k.Seal(c.name, c.secret), k.Check()); err != nil {
			t.Fatal(err)
		}
	}
	if err := creds.SetOrganisationCredential(ctx, "RXX", "org-admin"); err != nil {
		t.Fatal(err)
	}
	csv := "hostname,org,address,credential\n" +
		"pc1.rxx.nhs.uk,RXX,10.0.0.1,device-admin\n" +
		"pc2.rxx.nhs.uk,RXX,10.0.0.2:5986,\n" +
		"pc3.ryy.nhs.uk,RYY,,\n" + rows
	r, err := format.NewCSVReader(strings.NewReader(csv), "d.csv", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Import(ctx, r, inventory.ImportOptions{}); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *estate) config() targets.Config {
	return targets.Config{Organisations: e.store, Credentials: e.creds, KeyFile: e.keyFile,
		Files: inputfile.Limit{Max: 1024, Raise: "--max-file-size"}}
}

func (e *estate) device(t *testing.T, hostname string) *inventory.Device {
	t.Helper()
	d, err := e.store.Device(context.Background(), hostname)
	if err != nil {
		t.Fatal(err)
	}
	return &d
}

func TestTarget(t *testing.T) {
	e := newEstate(t)
	ctx := context.Background()
	if err := os.WriteFile(filepath.Join(e.dir, "known_hosts"), []byte("pc1 ssh-ed25519 AAAA"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, host string
		opts       targets.Options
		// want: the user logged on as, the HTTPS choice, or the error.
		user    string
		https   bool
		wantErr func(error) bool
		check   func(t *testing.T, tg targetView)
	}{
		{name: "device credential", host: "pc1.rxx.nhs.uk", user: `NHS\dev`},
		{name: "organisation's credential", host: "pc2.rxx.nhs.uk", user: `NHS\org`, https: true},
		{name: "https asked", host: "pc1.rxx.nhs.uk", opts: targets.Options{HTTPS: true}, user: `NHS\dev`, https: true},
		{name: "no credential", host: "pc3.ryy.nhs.uk", wantErr: func(err error) bool {
			var nc *targets.NoCredentialError
			return errors.As(err, &nc) && nc.Org == "RYY" && strings.Contains(err.Error(), "ringmaster org set-credential RYY NAME")
		}},
		{name: "option read from file", host: "pc1.rxx.nhs.uk", user: `NHS\dev`,
			opts: targets.Options{ExecutorOptions: map[string]string{"known_hosts": "@" + filepath.Join(e.dir, "known_hosts"), "x": "a=b"}},
			check: func(t *testing.T, tg targetView) {
				if tg.options["known_hosts"] != "pc1 ssh-ed25519 AAAA" || tg.options["x"] != "a=b" {
					t.Errorf("options %q", tg.options)
				}
			}},
		{name: "basic forced without TLS", host: "pc1.rxx.nhs.uk", user: `NHS\dev`,
			opts: targets.Options{Auth: "basic", AllowBasicWithoutTLS: true},
			check: func(t *testing.T, tg targetView) {
				if tg.auth != "basic" || tg.options[winrm.OptionAllowBasicWithoutTLS] != "true" {
					t.Errorf("auth %q options %q", tg.auth, tg.options)
				}
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := targets.New(ctx, e.config(), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			tg, err := r.Target(ctx, e.device(t, tc.host))
			if tc.wantErr != nil {
				if err == nil || !tc.wantErr(err) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tg.Username != tc.user || tg.HTTPS != tc.https || tg.Hostname != tc.host {
				t.Errorf("target %s as %q https=%v", tg.Hostname, tg.Username, tg.HTTPS)
			}
			if want := map[string]string{`NHS\dev`: "Dev-Secret-1", `NHS\org`: "Org-Secret-1"}[tc.user]; tg.Password != want {
				t.Errorf("password of %s not unsealed", tc.user)
			}
			if tc.check != nil {
				tc.check(t, targetView{auth: tg.Auth, options: tg.Options})
			}
		})
	}
}

// TestTargets: a batch resolves in order, or stops at the first device
// that cannot be reached, naming it.
func TestTargets(t *testing.T) {
	e := newEstate(t)
	ctx := context.Background()
	r, err := targets.New(ctx, e.config(), targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	pc1, pc2, pc3 := e.device(t, "pc1.rxx.nhs.uk"), e.device(t, "pc2.rxx.nhs.uk"), e.device(t, "pc3.ryy.nhs.uk")
	got, err := r.Targets(ctx, []*inventory.Device{pc2, pc1})
	if err != nil || len(got) != 2 || got[0].Hostname != pc2.Hostname || got[1].Username != `NHS\dev` {
		t.Fatalf("Targets = %+v, %v", got, err)
	}
	var nc *targets.NoCredentialError
	if _, err := r.Targets(ctx, []*inventory.Device{pc1, pc3, pc2}); !errors.As(err, &nc) || nc.Hostname != pc3.Hostname {
		t.Fatalf("Targets with an unreachable device: %v", err)
	}
}

type targetView struct {
	auth    string
	options map[string]string
}

// TestBasicWithoutTLS: Basic is refused where the password would cross the
// network readable, before anything is read, unless forced, which warns.
func TestBasicWithoutTLS(t *testing.T) {
	e := newEstate(t)
	for _, tc := range []struct {
		name       string
		opts       targets.Options
		refused    bool
		unverified bool
		warns      bool
	}{
		{name: "ntlm over http", opts: targets.Options{Auth: "ntlm"}},
		{name: "basic over http", opts: targets.Options{Auth: "basic"}, refused: true},
		{name: "BASIC over http", opts: targets.Options{Auth: "BASIC"}, refused: true},
		{name: "basic over unverified https", opts: targets.Options{Auth: "basic", HTTPS: true, InsecureSkipVerify: true}, refused: true, unverified: true},
		{name: "basic over verified https", opts: targets.Options{Auth: "basic", HTTPS: true}},
		{name: "basic over http, forced", opts: targets.Options{Auth: "basic", AllowBasicWithoutTLS: true}, warns: true},
		{name: "basic over unverified https, forced", opts: targets.Options{Auth: "basic", HTTPS: true, InsecureSkipVerify: true, AllowBasicWithoutTLS: true}, warns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			warning, err := tc.opts.CheckAuth()
			var basic *targets.BasicAuthError
			if refused := errors.As(err, &basic); refused != tc.refused || refused && basic.Unverified != tc.unverified {
				t.Fatalf("CheckAuth: %v, want refused=%v unverified=%v", err, tc.refused, tc.unverified)
			}
			if (warning != "") != tc.warns {
				t.Errorf("warning %q, want one: %v", warning, tc.warns)
			}
			// New refuses the same, whatever the caller did with CheckAuth.
			_, err = targets.New(context.Background(), e.config(), tc.opts)
			if errors.As(err, &basic) != tc.refused {
				t.Errorf("New: %v", err)
			}
		})
	}
}

// TestKeys: the resolver only ever loads the key file; a missing or
// foreign key is an error naming the file, and no key is created.
func TestKeys(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		keyFile func(e *estate) string
		wantErr func(error) bool
	}{
		{name: "missing key file", keyFile: func(e *estate) string { return filepath.Join(e.dir, "typo.key") },
			wantErr: func(err error) bool {
				return errors.Is(err, fs.ErrNotExist) && strings.Contains(err.Error(), "2 stored credentials cannot be opened")
			}},
		{name: "another key", keyFile: func(e *estate) string {
			path := filepath.Join(e.dir, "other.key")
			if _, err := credential.CreateKey(path); err != nil {
				t.Fatal(err)
			}
			return path
		}, wantErr: func(err error) bool {
			var mismatch *credential.KeyMismatchError
			return errors.As(err, &mismatch) && strings.HasSuffix(mismatch.Path, "other.key")
		}},
		{name: "key others may read", keyFile: func(e *estate) string {
			if err := os.Chmod(e.keyFile, 0o644); err != nil {
				t.Fatal(err)
			}
			return e.keyFile
		}, wantErr: func(err error) bool {
			var perm *credential.PermissionError
			return errors.As(err, &perm)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEstate(t)
			cfg := e.config()
			cfg.KeyFile = tc.keyFile(e)
			_, statErr := os.Stat(cfg.KeyFile)
			r, err := targets.New(ctx, cfg, targets.Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = r.Target(ctx, e.device(t, "pc2.rxx.nhs.uk"))
			if err == nil || !tc.wantErr(err) {
				t.Fatalf("err = %v", err)
			}
			if _, err := os.Stat(cfg.KeyFile); errors.Is(statErr, fs.ErrNotExist) && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("a key file was created: %v", err)
			}
		})
	}
}

// TestLegacyKeyCheck: on a database from before key check values, the key
// that opens a credential has its check value recorded.
func TestLegacyKeyCheck(t *testing.T) {
	e := newEstate(t)
	ctx := context.Background()
	if _, err := e.db.SQL().ExecContext(ctx, `DELETE FROM credential_key`); err != nil {
		t.Fatal(err)
	}
	r, err := targets.New(ctx, e.config(), targets.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Target(ctx, e.device(t, "pc1.rxx.nhs.uk")); err != nil {
		t.Fatal(err)
	}
	check, _, err := e.creds.KeyCheck(ctx)
	if err != nil || check == nil {
		t.Fatalf("check value %x recorded: %v", check, err)
	}
}

// TestFilesAreBounded: the CA bundle and @FILE values are read through the
// input limit and refused by name.
func TestFilesAreBounded(t *testing.T) {
	e := newEstate(t)
	big := filepath.Join(e.dir, "big.pem")
	if err := os.WriteFile(big, make([]byte, 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		opts   targets.Options
		option string
	}{
		{name: "CA file", opts: targets.Options{CAFile: big}},
		{name: "option file", opts: targets.Options{ExecutorOptions: map[string]string{"known_hosts": "@" + big}}, option: "known_hosts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := targets.New(context.Background(), e.config(), tc.opts)
			var fe *targets.FileError
			if !errors.As(err, &fe) || fe.Option != tc.option || !errors.Is(err, inputfile.ErrTooLarge) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
