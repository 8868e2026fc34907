package campaigns_test

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/playbooks/builtin"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

// now is the tests' time: a Monday morning.
var now = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

// estate is a real inventory and campaign store on one SQLite file.
type estate struct {
	db    *sqlite.DB
	inv   *sqlite.Inventory
	store *sqlite.Campaigns
	dir   string
	now   time.Time
}

func (e *estate) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return e.inv.Devices(ctx, sel)
}

func (e *estate) TimeZones(ctx context.Context) (map[string]string, error) {
	return e.inv.TimeZones(ctx)
}

func (e *estate) LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error) {
	return e.inv.LastSeen(ctx, hosts)
}

// playbook resolves a built-in name, or a file in the test's directory.
func (e *estate) playbook(ref string) (string, []byte, error) {
	if strings.HasSuffix(ref, ".yaml") {
		src, err := os.ReadFile(filepath.Join(e.dir, ref))
		return ref, src, err
	}
	src, err := builtin.Source(ref)
	return "builtin/" + ref + ".yaml", src, err
}

func (e *estate) service() *campaigns.Service {
	as, err := e.db.Alerts(context.Background())
	if err != nil {
		panic(err) // opened by newEstate already
	}
	return campaigns.New(campaigns.Config{Store: e.store, Inventory: e, Alerts: as, Playbooks: e.playbook, Now: func() time.Time { return e.now }})
}

// addAlert parses and stores an alert.
func (e *estate) addAlert(t *testing.T, src string) *alerts.Alert {
	t.Helper()
	ctx := context.Background()
	al, err := alerts.ParseContext(ctx, "a.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	as, err := e.db.Alerts(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := as.Add(ctx, al, []byte(src)); err != nil {
		t.Fatal(err)
	}
	return al
}

// importCSV imports more devices from CSV text.
// reports is the reports service over the estate's stores and as.
func (e *estate) reports(t *testing.T, as reports.Alerts) *reports.Service {
	t.Helper()
	hs, err := e.db.History(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	rs, err := reports.New(reports.Config{Inventory: e.inv, Alerts: as, History: hs, Campaigns: e.store, Now: func() time.Time { return e.now }})
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func (e *estate) importCSV(t *testing.T, csv string) {
	t.Helper()
	r, err := format.NewCSVReader(strings.NewReader(csv), "more.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inv.Import(context.Background(), r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
}

// newEstate imports devices given as "hostname,org,build[,address]" lines.
func newEstate(t *testing.T, rows ...string) *estate {
	t.Helper()
	ctx := context.Background()
	e := &estate{dir: t.TempDir(), now: now}
	clock := func() time.Time { return e.now }
	var err error
	if e.db, err = sqlite.Open(ctx, filepath.Join(e.dir, "r.db"), sqlite.Options{Now: clock}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.db.Close() })
	e.inv = e.db.Inventory()
	csv := "hostname,org,build,address\n" + strings.Join(rows, "\n") + "\n"
	r, err := format.NewCSVReader(strings.NewReader(csv), "estate.csv", now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
		t.Fatal(err)
	}
	if e.store, err = e.db.Campaigns(ctx); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *estate) write(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(e.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// hosts returns n devices spread over two organisations.
func hosts(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("pc%03d.r%c.nhs.uk,R%c,10.0.18363,", i, 'a'+i%2, 'A'+i%2)
	}
	return out
}

func TestCreate(t *testing.T) {
	const failing = "name: always-fails\nversion: 1.0.0\ndescription: Fails.\nsteps:\n  - {name: refuse, fail: \"broken: on purpose\"}\n"
	tests := []struct {
		name    string
		file    string
		waves   []int // wave sizes; nil when refused
		unwaved int
		errHas  string // the error says it
	}{
		{name: "waves", file: "name: c\nplaybook: discover\nwaves: [{name: pilot, count: 2}, {name: rest}]\n", waves: []int{2, 8}},
		{name: "percent and a target", file: "name: c\nplaybook: discover\ntarget: org=RA\nwaves: [{name: half, percent: 50}, {name: rest}]\n",
			waves: []int{3, 2}},
		{name: "a wave selector leaves devices out", file: "name: c\nplaybook: discover\nwaves: [{name: ra, selector: org=RA}]\n",
			waves: []int{5}, unwaved: 5},
		{name: "a playbook file", file: "name: c\nplaybook: fail.yaml\nwaves: [{name: all}]\n", waves: []int{10}},
		{name: "a bad file", file: "name: C!\nplaybook: discover\nwaves: []\n",
			errHas: "c.yaml:1: name \"C!\""},
		{name: "an unknown playbook", file: "name: c\nplaybook: nope\nwaves: [{name: all}]\n", errHas: "c.yaml: playbook nope"},
		{name: "parameters the playbook refuses", file: "name: c\nplaybook: discover\nparams: {nope: 1}\nwaves: [{name: all}]\n",
			errHas: "c.yaml: params for playbook discover"},
		{name: "no device", file: "name: c\nplaybook: discover\ntarget: org=RZ\nwaves: [{name: all}]\n",
			errHas: `c.yaml: target "org=RZ" matches no device in the inventory`},
		{name: "exposed to an unknown alert", file: "name: c\nplaybook: discover\nexposed_to: HSA-9\nwaves: [{name: all}]\n",
			errHas: "c.yaml: exposed_to: alert HSA-9"},
		{name: "exposed to an alert, none observed so", file: "name: c\nplaybook: discover\ntarget: org=RA\nexposed_to: HSA-1\nwaves: [{name: all}]\n",
			errHas: `c.yaml: exposed_to: no device target "org=RA" selects is observed to be exposed to HSA-1`},
		{name: "exposed to nothing", file: "name: c\nplaybook: discover\nexposed_to: \"\"\nwaves: [{name: all}]\n",
			errHas: "c.yaml:3: exposed_to \"\": name an alert by its id"},
		{name: "a window that never opens", file: "name: c\nplaybook: discover\nwindows: {default: {cron: \"0 19 30 2 *\", duration: 8h}}\nwaves: [{name: all}]\n",
			errHas: "never opens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEstate(t, hosts(10)...)
			e.write(t, "fail.yaml", failing)
			e.addAlert(t, "id: HSA-1\ntitle: T\nissued: 2019-08-13\ndeadline: 2019-08-27\nremediation:\n  \"10.0.18363\": [KB4512508]\n")
			ctx := context.Background()
			c, err := e.service().Create(ctx, "c.yaml", []byte(tt.file))
			if tt.waves == nil {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want one saying %q", err, tt.errHas)
				}
				if cs, _ := e.store.Campaigns(ctx); len(cs) != 0 {
					t.Fatalf("a refused campaign was stored: %v", cs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(c.WaveSizes) != fmt.Sprint(tt.waves) || c.Unwaved != tt.unwaved {
				t.Fatalf("waves %v, %d unwaved; want %v, %d", c.WaveSizes, c.Unwaved, tt.waves, tt.unwaved)
			}
			if c.Devices() != 10 && tt.unwaved+sum(tt.waves) == 10 {
				t.Errorf("Devices() = %d", c.Devices())
			}
			stored, err := e.store.Campaign(ctx, "c")
			if err != nil || stored.Status != orchestrator.StatusDraft || stored.Spec != tt.file {
				t.Fatalf("stored %+v, %v; want a draft with the file as given", stored, err)
			}
			if _, err := e.service().Create(ctx, "c.yaml", []byte(tt.file)); !errors.Is(err, errkind.Exists) {
				t.Fatalf("create again: %v, want errkind.Exists", err)
			}
		})
	}
}

func sum(xs []int) int {
	n := 0
	for _, x := range xs {
		n += x
	}
	return n
}

// TestActions walks a person's commands through the status machine: each
// allowed one says the new status, each refused one wraps ErrState and
// changes nothing.
func TestActions(t *testing.T) {
	type step struct {
		do   orchestrator.Action
		want orchestrator.Status // "" when refused
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"start, pause, resume, cancel", []step{{orchestrator.ActionStart, orchestrator.StatusRunning}, {orchestrator.ActionPause, orchestrator.StatusPaused},
			{orchestrator.ActionResume, orchestrator.StatusRunning}, {orchestrator.ActionCancel, orchestrator.StatusCancelled}}},
		{"nothing to pause or resume in a draft", []step{{orchestrator.ActionPause, ""}, {orchestrator.ActionResume, ""}, {orchestrator.ActionStart, orchestrator.StatusRunning}}},
		{"a draft can be cancelled", []step{{orchestrator.ActionCancel, orchestrator.StatusCancelled}, {orchestrator.ActionStart, ""}}},
		{"cancelled is for good", []step{{orchestrator.ActionStart, orchestrator.StatusRunning}, {orchestrator.ActionCancel, orchestrator.StatusCancelled},
			{orchestrator.ActionResume, ""}, {orchestrator.ActionCancel, ""}}},
		{"start once", []step{{orchestrator.ActionStart, orchestrator.StatusRunning}, {orchestrator.ActionStart, ""}}},
		{"only the controller completes", []step{{orchestrator.ActionStart, orchestrator.StatusRunning}, {orchestrator.ActionComplete, orchestrator.StatusDone},
			{orchestrator.ActionPause, ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEstate(t, hosts(2)...)
			ctx := context.Background()
			svc := e.service()
			if _, err := svc.Create(ctx, "c.yaml", []byte("name: c\nplaybook: discover\nwaves: [{name: all}]\n")); err != nil {
				t.Fatal(err)
			}
			status := orchestrator.StatusDraft
			for _, s := range tt.steps {
				got, err := svc.Act(ctx, "c", s.do)
				switch {
				case s.want == "" && !errors.Is(err, orchestrator.ErrState):
					t.Fatalf("%s a %s campaign: %s, %v; want ErrState", s.do, status, got, err)
				case s.want == "" && !strings.Contains(err.Error(), "campaign "+string(s.do)+": campaign c is "+string(status)):
					t.Fatalf("%s: %v, want it to say the command and the status", s.do, err)
				case s.want != "" && (err != nil || got != s.want):
					t.Fatalf("%s a %s campaign: %s, %v; want %s", s.do, status, got, err, s.want)
				case s.want != "":
					status = s.want
				}
				c, err := e.store.Campaign(ctx, "c")
				if err != nil || c.Status != status {
					t.Fatalf("after %s: stored %s, %v; want %s", s.do, c.Status, err, status)
				}
			}
		})
	}
	t.Run("named commands", func(t *testing.T) {
		e := newEstate(t, hosts(2)...)
		ctx := context.Background()
		svc := e.service()
		if _, err := svc.Create(ctx, "c.yaml", []byte("name: c\nplaybook: discover\nwaves: [{name: all, approval: manual}]\n")); err != nil {
			t.Fatal(err)
		}
		for _, f := range []func(context.Context, string) (orchestrator.Status, error){svc.Start, svc.Pause, svc.Resume, svc.Cancel} {
			if _, err := f(ctx, "c"); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := svc.Start(ctx, "nope"); !errors.Is(err, errkind.NotFound) {
			t.Errorf("start an unknown campaign: %v, want errkind.NotFound", err)
		}
		if err := svc.Approve(ctx, "c", "all", campaigns.Decision{Actor: "alice"}); err != nil {
			t.Errorf("approve: %v", err)
		}
		if err := svc.Approve(ctx, "c", "nope", campaigns.Decision{Actor: "alice"}); !errors.Is(err, errkind.NotFound) || !strings.HasPrefix(err.Error(), "campaign approve: ") {
			t.Errorf("approve an unknown wave: %v, want errkind.NotFound", err)
		}
		if n, err := svc.Retry(ctx, "c", orchestrator.DeviceFilter{}); n != 0 || err != nil {
			t.Errorf("retry with nothing failed: %d, %v", n, err)
		}
	})
}

func TestRemediate(t *testing.T) {
	const alert = `id: HSA-2019-0042
title: DejaBlue
issued: 2019-08-13
deadline: 2019-08-27
remediation:
  "10.0.18363": [KB4512508]
`
	// 45 devices observed exposed (on the build, another update
	// installed), one remediated, one on another build.
	csv := "hostname,org,build,kbs\n"
	var exposed []string
	for i := range 45 {
		h := fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%2)
		exposed = append(exposed, h)
		csv += fmt.Sprintf("%s,R%c,10.0.18363,KB1000001\n", h, 'A'+i%2)
	}
	csv += "patched.ra.nhs.uk,RA,10.0.18363,KB4512508\nnewer.ra.nhs.uk,RA,10.0.19045,KB1000001\n"
	al, err := alerts.ParseContext(context.Background(), "a.yaml", []byte(alert))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		r            campaigns.Remediation
		campaign     string
		pilot, rest  int
		errIs        error
		soak         time.Duration
		wantDeadline string
	}{
		{name: "defaults", r: campaigns.Remediation{Alert: al, Exposed: exposed, Source: `\\dp01\updates$`, PilotSoak: 4 * time.Hour},
			campaign: "remediate-hsa-2019-0042", pilot: 2, rest: 43, soak: 4 * time.Hour},
		// Told of one device, it sizes the pilot by it; the campaign holds
		// every device exposed when it is created.
		{name: "named, one device", r: campaigns.Remediation{Alert: al, Exposed: exposed[:1], Source: `C:\updates`, Name: "dejablue"},
			campaign: "dejablue", pilot: 1, rest: 44},
		{name: "nothing exposed", r: campaigns.Remediation{Alert: al, Source: `C:\updates`}, errIs: errkind.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEstate(t)
			e.importCSV(t, csv)
			e.addAlert(t, alert)
			ctx := context.Background()
			c, err := e.service().Remediate(ctx, tt.r)
			if errorWanted(t, err, tt.errIs) {
				return
			}
			if c.Spec.Name != tt.campaign || len(c.WaveSizes) != 2 || c.WaveSizes[0] != tt.pilot || c.WaveSizes[1] != tt.rest {
				t.Fatalf("%s waves %v, want %s pilot %d rest %d", c.Spec.Name, c.WaveSizes, tt.campaign, tt.pilot, tt.rest)
			}
			// What is stored is a campaign file that reads back as the
			// typed spec: what runs is what was checked.
			stored, err := e.store.Campaign(ctx, tt.campaign)
			if err != nil {
				t.Fatal(err)
			}
			spec, err := orchestrator.ParseSpec(stored.SpecFile, []byte(stored.Spec))
			if err != nil {
				t.Fatalf("stored spec: %v\n%s", err, stored.Spec)
			}
			if spec.Playbook != campaigns.RemediatePlaybook || spec.Params["alert"] != al.ID || spec.Params["source"] != tt.r.Source ||
				spec.Waves[0].Soak.Duration != tt.soak || !spec.Deadline.Equal(time.Date(2019, 8, 28, 0, 0, 0, 0, time.UTC)) {
				t.Fatalf("stored spec %+v\n%s", spec, stored.Spec)
			}
			if stored.SpecFile != tt.campaign+".yaml" || !strings.HasPrefix(stored.PlaybookFile, "builtin/hsa-remediate") {
				t.Fatalf("stored %s from %s", stored.SpecFile, stored.PlaybookFile)
			}
			// The spec names the alert, not its devices; the campaign holds
			// every device exposed when it was created, whatever the
			// remediation was told.
			if spec.ExposedTo != al.ID || strings.Contains(stored.Spec, "pc000") {
				t.Fatalf("stored spec names its devices, or not the alert:\n%s", stored.Spec)
			}
			if c.Devices() != len(exposed) {
				t.Fatalf("campaign of %d devices, want the %d exposed", c.Devices(), len(exposed))
			}
		})
	}
}

// TestReadModels: list and show before anything runs, and their errors.
func TestReadModels(t *testing.T) {
	e := newEstate(t, hosts(4)...)
	ctx := context.Background()
	svc := e.service()
	if got, err := svc.List(ctx); err != nil || len(got) != 0 {
		t.Fatalf("list of nothing: %v, %v", got, err)
	}
	if _, err := svc.Create(ctx, "c.yaml", []byte("name: c\nplaybook: discover\nwaves: [{name: pilot, count: 1}, {name: rest, approval: manual}]\n")); err != nil {
		t.Fatal(err)
	}
	list, err := svc.List(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("list: %v, %v", list, err)
	}
	if s := list[0]; s.Name != "c" || s.Status != "draft" || s.Devices != 4 || s.States["pending"] != 4 || len(s.States) != len(orchestrator.DeviceStates) ||
		!s.Created.Equal(now) {
		t.Fatalf("summary %+v", s)
	}
	d, err := svc.Show(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Waves) != 2 || d.Waves[0].Devices != 1 || d.Waves[1].Devices != 3 || d.Waves[0].Started != nil || d.NeedsPerson ||
		len(d.Reasons) != 0 || d.Blocked == nil {
		t.Fatalf("show %+v", d)
	}
	if _, err := svc.Show(ctx, "nope"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("show unknown: %v, want errkind.NotFound", err)
	}
	h, err := svc.Device(ctx, "c", "PC001.RB.NHS.UK")
	if err != nil || h.Device.Hostname != "pc001.rb.nhs.uk" || h.Device.State != orchestrator.DevicePending || len(h.Transitions) != 0 {
		t.Fatalf("device (hostname normalised): %+v, %v", h, err)
	}
	if _, err := svc.Device(ctx, "c", "nope.nhs.uk"); !errors.Is(err, errkind.NotFound) {
		t.Errorf("unknown device: %v, want errkind.NotFound", err)
	}
}

// TestRemediateAlert finds the exposed devices through the reports
// application on the same database, as alert remediate does.
func TestRemediateAlert(t *testing.T) {
	const alert = "id: %s\ntitle: T\nissued: 2019-08-13\ndeadline: 2019-08-27\nremediation:\n  %q: [KB4512508]\n"
	tests := []struct {
		name, id, build string
		exposed         []string
		errIs           error
	}{
		{name: "exposed devices", id: "HSA-1", build: "10.0.18363", exposed: []string{"pc1.ra.nhs.uk", "pc2.ra.nhs.uk", "pc4.rb.nhs.uk"}},
		{name: "nothing exposed", id: "HSA-2", build: "10.0.17763"},
		{name: "unknown alert", id: "HSA-3", errIs: errkind.NotFound},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEstate(t)
			csv := "hostname,org,build,kbs\npc1.ra.nhs.uk,RA,10.0.18363,KB1000001\npc2.ra.nhs.uk,RA,10.0.18363,KB1000002\n" +
				"pc3.rb.nhs.uk,RB,10.0.18363,KB4512508\npc4.rb.nhs.uk,RB,10.0.18363,KB1000002;KB1000003\npc5.rb.nhs.uk,RB,10.0.19045,KB1000001\n"
			r, err := format.NewCSVReader(strings.NewReader(csv), "kbs.csv", now)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.inv.Import(ctx, r, inventory.ImportOptions{CreateOrgs: true, DefaultTimeZone: "Europe/London"}); err != nil {
				t.Fatal(err)
			}
			as, err := e.db.Alerts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.build != "" {
				data := []byte(fmt.Sprintf(alert, tt.id, tt.build))
				al, err := alerts.ParseContext(ctx, "a.yaml", data)
				if err != nil {
					t.Fatal(err)
				}
				if err := as.Add(ctx, al, data); err != nil {
					t.Fatal(err)
				}
			}
			rs := e.reports(t, as)
			rem, c, err := e.service().RemediateAlert(ctx, rs, tt.id, campaigns.Remediation{Source: `\\dp01\updates$`, PilotSoak: time.Hour})
			if errorWanted(t, err, tt.errIs) {
				return
			}
			slices.Sort(rem.Exposed)
			if rem.Alert == nil || rem.Alert.ID != tt.id || !slices.Equal(rem.Exposed, tt.exposed) {
				t.Fatalf("remediation of %v for %v", rem.Alert, rem.Exposed)
			}
			list, err := e.store.Campaigns(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.exposed) == 0 {
				if c.Spec != nil || len(list) != 0 {
					t.Fatalf("nothing exposed, yet created %+v (%d stored)", c, len(list))
				}
				return
			}
			if want := "remediate-" + strings.ToLower(tt.id); c.Spec.Name != want || c.Devices() != len(tt.exposed) || len(list) != 1 {
				t.Fatalf("created %s with %d devices (%d stored), want %s with %d", c.Spec.Name, c.Devices(), len(list), want, len(tt.exposed))
			}
		})
	}
}

// errorWanted fails t unless err matches want (nil: no error) and says
// whether an error was wanted, which ends the case.
func errorWanted(t *testing.T, err, want error) bool {
	t.Helper()
	if want != nil {
		if !errors.Is(err, want) {
			t.Fatalf("err %v, want %v", err, want)
		}
		return true
	}
	if err != nil {
		t.Fatal(err)
	}
	return false
}

// lyingExposure names every exposed device whatever the scope it is
// asked about: the campaign must be bounded all the same.
type lyingExposure struct{ rs *reports.Service }

func (l lyingExposure) ExposedIn(ctx context.Context, _ access.Orgs, id string) (*alerts.Alert, []string, error) {
	return l.rs.Exposed(ctx, id)
}

// TestRemediateAlertIn: a caller bounded to some organisations remediates
// their exposed devices alone, the pilot sized by them; with none of
// them exposed nothing is created.
func TestRemediateAlertIn(t *testing.T) {
	const alert = "id: HSA-1\ntitle: T\nissued: 2019-08-13\ndeadline: 2019-08-27\nremediation:\n  \"10.0.18363\": [KB4512508]\n"
	// Exposed: pc1, pc2 of RA and pc4 of RB; pc3 is remediated, pc5 on
	// another build; RC has nothing exposed.
	const csv = "hostname,org,build,kbs\npc1.ra.nhs.uk,RA,10.0.18363,KB1000001\npc2.ra.nhs.uk,RA,10.0.18363,KB1000002\n" +
		"pc3.rb.nhs.uk,RB,10.0.18363,KB4512508\npc4.rb.nhs.uk,RB,10.0.18363,KB1000002\npc5.rc.nhs.uk,RC,10.0.19045,KB1000001\n"
	tests := []struct {
		name    string
		orgs    access.Orgs
		lying   bool
		exposed []string
		reaches []string
		devices int // in the campaign
		target  string
	}{
		{name: "one organisation", orgs: access.NewOrgs("RA"), exposed: []string{"pc1.ra.nhs.uk", "pc2.ra.nhs.uk"}, reaches: []string{"RA"}, devices: 2,
			target: `build in (10.0.18363), org in ("RA")`},
		{name: "two", orgs: access.NewOrgs("RA", "RB"), exposed: []string{"pc1.ra.nhs.uk", "pc2.ra.nhs.uk", "pc4.rb.nhs.uk"}, reaches: []string{"RA", "RB"}, devices: 3,
			target: `build in (10.0.18363), org in ("RA","RB")`},
		{name: "every one", orgs: access.AllOrgs(), exposed: []string{"pc1.ra.nhs.uk", "pc2.ra.nhs.uk", "pc4.rb.nhs.uk"}, reaches: []string{"RA", "RB"}, devices: 3,
			target: "build in (10.0.18363)"},
		{name: "none exposed in scope", orgs: access.NewOrgs("RC")},
		{name: "no organisation", orgs: access.NewOrgs()},
		// Told of RB's device too, the campaign still holds RA's alone:
		// the bound is the campaign's target, not trust in the exposure.
		{name: "an exposure naming others", orgs: access.NewOrgs("RA"), lying: true, exposed: []string{"pc1.ra.nhs.uk", "pc2.ra.nhs.uk", "pc4.rb.nhs.uk"},
			reaches: []string{"RA"}, devices: 2, target: `build in (10.0.18363), org in ("RA")`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := context.Background()
			e := newEstate(t)
			e.importCSV(t, csv)
			e.addAlert(t, alert)
			as, err := e.db.Alerts(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rs := e.reports(t, as)
			var ex campaigns.Exposure = rs
			if tt.lying {
				ex = lyingExposure{rs}
			}
			rem, c, err := e.service().RemediateAlertIn(ctx, tt.orgs, ex, "HSA-1", campaigns.Remediation{Source: `C:\updates`, PilotSoak: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(rem.Exposed)
			if rem.Alert == nil || !slices.Equal(rem.Exposed, tt.exposed) {
				t.Fatalf("remediation of %v for %v, want %v", rem.Alert, rem.Exposed, tt.exposed)
			}
			list, err := e.store.Campaigns(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.reaches) == 0 {
				if c.Spec != nil || len(list) != 0 {
					t.Fatalf("nothing exposed in scope, yet created %+v (%d stored)", c, len(list))
				}
				return
			}
			if c.Spec.Target != tt.target || c.Spec.ExposedTo != "HSA-1" {
				t.Errorf("target %q exposed to %q, want %q exposed to HSA-1", c.Spec.Target, c.Spec.ExposedTo, tt.target)
			}
			reaches, err := e.store.Orgs(ctx, c.Spec.Name)
			if err != nil {
				t.Fatal(err)
			}
			slices.Sort(reaches)
			if !slices.Equal(reaches, tt.reaches) || c.Devices() != tt.devices {
				t.Fatalf("campaign of %d devices reaching %v, want %d reaching %v", c.Devices(), reaches, tt.devices, tt.reaches)
			}
		})
	}
	// Asked directly for a campaign over no organisation, it refuses.
	e := newEstate(t)
	e.importCSV(t, csv)
	al := e.addAlert(t, alert)
	_, err := e.service().RemediateIn(context.Background(), access.NewOrgs(), campaigns.Remediation{Alert: al, Exposed: []string{"pc1.ra.nhs.uk"}, Source: `C:\updates`})
	if !errors.Is(err, errkind.Forbidden) {
		t.Fatalf("remediate in no organisation: %v, want errkind.Forbidden", err)
	}
}
