package dbcopy_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/audit"
	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/internal/pgtest"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/inventory/format"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/store"
	"github.com/ringmaster-fleet/ringmaster/store/dbcopy"
	"github.com/ringmaster-fleet/ringmaster/store/sqlite"
)

var ctx = context.Background()

// start is the fixture's first moment; the clock moves on a minute at
// each look, so that every stored time differs.
var start = time.Date(2026, 3, 2, 9, 0, 0, 123456000, time.UTC)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Minute)
	return c.t
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func must2[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		must(t, err)
		return v
	}
}

const alertYAML = `id: HSA-2019-0042
title: DejaBlue RDP remote code execution
issued: 2019-08-13
deadline: 2019-08-27
remediation:
  "10.0.18363": [KB4512508]
  "10.0.19045": [KB5034441]
supersedence:
  KB4512508: [KB4517389]
`

// fill writes every kind of data the stores keep into db: what a copy
// must carry.
func fill(t *testing.T, db store.DB, now func() time.Time) {
	t.Helper()
	inv := db.Inventory()
	must(t, inv.CreateOrganisation(ctx, &inventory.Organisation{Code: "RXX", Name: "Example Hospitals", TimeZone: "Europe/London", Tags: []string{"acute", "north"}}))
	must(t, inv.CreateOrganisation(ctx, &inventory.Organisation{Code: "RYY", Name: "Other Trust", TimeZone: "America/New_York"}))
	must(t, inv.CreateOrganisation(ctx, &inventory.Organisation{Code: "EMPTY", Name: "No devices", TimeZone: "UTC"}))
	var csv strings.Builder
	csv.WriteString("hostname,org,site,address,labels,credential,os_caption,os_build,kbs,disk_free_gb,ram_gb,last_seen,manufacturer\n")
	for i := range 60 {
		org := []string{"RXX", "RYY"}[i%2]
		build := []string{"10.0.19045.3803", "10.0.18363.1556", "6.1.7601", "10.0.19044.1"}[i%4]
		kbs := []string{"KB5034441", "KB4517389;KB1234567", "", "KB4512508"}[i%3]
		seen := ""
		if i%5 != 0 {
			seen = start.Add(-time.Duration(i) * 26 * time.Hour).Format(time.RFC3339)
		}
		fmt.Fprintf(&csv, "pc%02d.%s.nhs.uk,%s,site-%d,10.1.0.%d,ring=%d;team=t%d,,Microsoft Windows 10 Enterprise,%s,%s,%d.5,16,%s,Dell\n",
			i, strings.ToLower(org), org, i%3, i, i%3, i%4, build, kbs, 10+i, seen)
	}
	r, err := format.NewReader(format.CSV, strings.NewReader(csv.String()), "estate.csv", start)
	must(t, err)
	must2[inventory.ImportResult](t)(inv.Import(ctx, r, inventory.ImportOptions{Now: now()}))
	must2[inventory.LabelResult](t)(inv.LabelDevices(ctx, must2[inventory.Selector](t)(inventory.ParseSelector("org=RXX")),
		[]inventory.LabelChange{{Key: "ring", Value: "pilot"}, {Key: "team", Remove: true}}, "alice"))
	build, _, err := inventory.ParseVersion("10.0.19045")
	must(t, err)
	obs := inventory.Facts{OSBuild: build, UBR: 4000, KBs: []string{"KB5034441"}}
	obs.ObservedAt[inventory.FactOSBuild], obs.ObservedAt[inventory.FactUBR], obs.ObservedAt[inventory.FactKBs] = now(), now(), now()
	must(t, inv.RecordObservation(ctx, "pc03.ryy.nhs.uk", obs, now()))
	creds := db.Credentials()
	check := []byte("check-value-0123456789abcdef0123")
	must(t, creds.AddCredential(ctx, "estate", `NHS\svc-ringmaster`, []byte("\x00sealed\xffbytes-1"), check))
	must(t, creds.AddCredential(ctx, "rxx-admin", `RXX\admin`, []byte("sealed-2\x00\x01"), check))
	must(t, creds.SetOrganisationCredential(ctx, "RXX", "rxx-admin"))
	must(t, inv.SetConnection(ctx, &inventory.Connection{Org: "RXX", HTTPS: true, Port: 5986, Auth: "kerberos", CACert: []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"),
		CAName: "trust-ca.pem", Options: map[string]string{"timeout": "30s"}}))
	must(t, inv.SetConnection(ctx, &inventory.Connection{Executor: "winrm", AllowBasicWithoutTLS: true, Auth: "basic", Credential: "estate"}))

	must(t, db.Plugins().InstallPlugin(ctx, host.Registration{Name: "ssh", Path: "/opt/ringmaster/ssh-plugin", SHA256: strings.Repeat("ab", 32)}))

	as := must2[store.Alerts](t)(db.Alerts(ctx))
	al, err := alerts.Parse("dejablue.yaml", []byte(alertYAML))
	must(t, err)
	must(t, as.Add(ctx, al, []byte(alertYAML)))

	hs := must2[store.History](t)(db.History(ctx))
	day := start.Truncate(24 * time.Hour)
	for d := range 3 {
		at := day.AddDate(0, 0, -d)
		must(t, hs.Record(ctx, []report.Snapshot{
			{Day: at, Org: "TOTAL", Devices: 60, OnTarget: 15 + d, Supported: 30, Affected: map[string]int{al.ID: 30}, Compliant: map[string]int{al.ID: 10 - d}},
			{Day: at, Org: "RXX", Devices: 30, OnTarget: 8, Supported: 15, Affected: map[string]int{al.ID: 15}, Compliant: map[string]int{al.ID: 5}},
		}))
	}

	ns := must2[store.Notifications](t)(db.Notifications(ctx))
	hook := must2[notify.Subscription](t)(ns.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: "https://hooks.example.nhs.uk/x", Format: notify.FormatJSON}))
	mail := must2[notify.Subscription](t)(ns.AddSubscription(ctx, notify.Subscription{Org: "RXX", Channel: notify.Email, To: "ops@rxx.nhs.uk", SMTP: "smtp.nhs.uk:587",
		From: "ringmaster@nhs.uk", Username: "rm", PasswordFile: "/etc/ringmaster/smtp", AllowPlain: true}))
	must2[int](t)(ns.Enqueue(ctx, "wave-halted/c1/pilot", []byte(`{"kind":"wave_halted"}`), []int64{hook.ID, mail.ID}, now()))
	must2[int](t)(ns.Enqueue(ctx, "campaign-done/c0", []byte(`{"kind":"done"}`), []int64{hook.ID}, now()))
	claimed := must2[[]notify.Delivery](t)(ns.Claim(ctx, now(), now().Add(time.Minute), 2))
	must(t, ns.Settle(ctx, claimed[0].ID, notify.Result{At: now()}))
	must(t, ns.Settle(ctx, claimed[1].ID, notify.Result{At: now(), Err: "503 Service Unavailable", Next: now().Add(time.Hour)}))

	tokens := must2[store.Tokens](t)(db.Tokens(ctx))
	at := now()
	must(t, tokens.CreateToken(ctx, &access.Token{ID: "0123456789ab", Subject: "ci", Role: access.Operator, Scope: access.EstateScope(),
		Hash: []byte("\x00hash\xff-0123456789abcdef0123456"), Note: "deploys", CreatedBy: "alice", CreatedAt: at, ExpiresAt: at.AddDate(0, 3, 0)}))
	must(t, tokens.CreateToken(ctx, &access.Token{ID: "abcdef012345", Subject: "trusts", Role: access.Viewer, Scope: access.OrgScope("RXX", "RYY"),
		Hash: []byte("hash-2"), CreatedBy: "bob", CreatedAt: now(), ExpiresAt: at.AddDate(0, 1, 0)}))
	must(t, tokens.RevokeToken(ctx, "abcdef012345", now()))
	trail := must2[store.Audit](t)(db.Audit(ctx))
	for _, e := range []audit.Entry{
		{At: now(), Actor: "alice", Via: access.ViaCLI, From: "ops-host", Action: "token.create", Target: "0123456789ab", Outcome: audit.Done,
			After: []byte(`{"id": "0123456789ab",  "role":"operator"}`)},
		{At: now(), Actor: "ci", Via: access.ViaToken, TokenID: "0123456789ab", From: "10.0.0.9:5123", Action: "campaign.pause", Target: "running",
			Org: "RXX", Outcome: audit.Refused, Detail: "forbidden"},
		{At: now(), Actor: "bob", Via: access.ViaCLI, Action: "token.revoke", Target: "abcdef012345", Outcome: audit.Done,
			Before: []byte(`{"revoked":false}`), After: []byte(`{"revoked":true}`)},
	} {
		must(t, trail.Append(ctx, &e))
	}

	cs := must2[store.Campaigns](t)(db.Campaigns(ctx))
	campaign(t, cs, "running", 40, now, orchestrator.StatusRunning)
	campaign(t, cs, "paused", 12, now, orchestrator.StatusPaused)
	campaign(t, cs, "cancelled", 8, now, orchestrator.StatusCancelled)
	campaign(t, cs, "draft", 6, now, orchestrator.StatusDraft)
}

// campaign creates a campaign of n devices in two waves and moves its
// devices through every state: some queued, running (with a
// checkpoint), succeeded, failed (one accepted), deferred, excluded, and
// pending; then leaves it in status.
func campaign(t *testing.T, cs store.Campaigns, name string, n int, now func() time.Time, status orchestrator.Status) {
	t.Helper()
	ms := make([]orchestrator.Member, n)
	for i := range ms {
		org := []string{"RXX", "RYY"}[i%2]
		ms[i] = orchestrator.Member{Hostname: fmt.Sprintf("pc%02d.%s.nhs.uk", i, strings.ToLower(org)), Org: org, Site: fmt.Sprintf("site-%d", i%3),
			Wave: i * 2 / n, Order: i}
	}
	ms[n-1].Wave = -1
	c := orchestrator.Campaign{Name: name, SpecFile: name + ".yaml", Spec: "name: " + name + "\nwaves: [pilot, rest]\n", PlaybookFile: "builtin:win10-22h2", Playbook: "name: p\nsteps: []\n"}
	must(t, cs.Create(ctx, c, []string{"pilot", "rest"}, slices.Values(ms)))
	if status == orchestrator.StatusDraft {
		return
	}
	must2[orchestrator.Status](t)(cs.ChangeStatus(ctx, name, orchestrator.ActionStart))
	cur := must2[orchestrator.Campaign](t)(cs.Campaign(ctx, name))
	var hosts []string
	for _, m := range ms[:n/2] {
		hosts = append(hosts, m.Hostname)
	}
	at := now()
	plan := orchestrator.Plan{Dispatch: hosts, WakeAt: at.Add(time.Hour),
		WaveChanges: []orchestrator.WaveChange{{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveActive, Started: at}}}}
	ds := must2[[]orchestrator.Dispatch](t)(cs.Apply(ctx, name, cur.Seq, plan, at, "controller", nil))
	// Of the dispatched: 2 stay queued; the rest begin.
	for i, d := range ds[2:] {
		wall := now()
		run := must2[orchestrator.Run](t)(cs.Begin(ctx, name, d.Hostname, d.Generation, wall, 3*time.Minute))
		_ = run
		if i%2 == 0 {
			must(t, cs.Heartbeat(ctx, name, d.Hostname, d.Generation, wall.Add(3*time.Minute), "download", []byte(fmt.Sprintf(`{"next":2,"run":"%s"}`, d.Hostname))))
		}
		switch i % 5 {
		case 0: // stays running, with its checkpoint
		case 1:
			must(t, cs.Finish(ctx, name, d.Hostname, d.Generation, orchestrator.DeviceSucceeded, orchestrator.Reason("completed"), "upgraded", time.Time{}))
		case 2:
			must(t, cs.Finish(ctx, name, d.Hostname, d.Generation, orchestrator.DeviceFailed, orchestrator.Reason("verify_failed"), "build still 18363", time.Time{}))
		case 3:
			must(t, cs.Finish(ctx, name, d.Hostname, d.Generation, orchestrator.DeviceDeferred, orchestrator.Reason("unreachable"), "no answer", now().Add(30*time.Minute)))
		case 4:
			must(t, cs.Finish(ctx, name, d.Hostname, d.Generation, orchestrator.DeviceFailed, orchestrator.Reason("command_failed"), "exit 1", time.Time{}))
		}
	}
	ev := orchestrator.Event{Actor: "alice", Reason: "known issue, vendor fix due"}
	if n >= 12 { // a failure in RXX to accept
		must2[int](t)(cs.Continue(ctx, name, "pilot", "RXX", ev))
	}
	must2[orchestrator.DeviceChange](t)(cs.MoveDevices(ctx, name, orchestrator.EventExclude, []string{ms[n-2].Hostname}, orchestrator.Event{Actor: "bob", Reason: "decommissioned"}))
	switch status {
	case orchestrator.StatusPaused:
		must2[orchestrator.Status](t)(cs.ChangeStatus(ctx, name, orchestrator.ActionPause))
	case orchestrator.StatusCancelled:
		must2[orchestrator.Status](t)(cs.ChangeStatus(ctx, name, orchestrator.ActionCancel))
	}
}

// digest is a file's SHA-256, or "" when it does not exist.
func digest(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return ""
	}
	must(t, err)
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// source writes the fixture into a new SQLite file and closes it.
func source(t *testing.T) (path string, now func() time.Time) {
	t.Helper()
	c := &clock{t: start}
	path = filepath.Join(t.TempDir(), "ringmaster.db")
	db, err := store.Open(ctx, path, store.Options{Now: c.Now})
	must(t, err)
	fill(t, db, c.Now)
	must(t, db.Close())
	return path, c.Now
}

func TestCopy(t *testing.T) {
	path, now := source(t)
	url := pgtest.URL(t)
	before := digest(t, path)
	var progressed []string
	r, err := dbcopy.Copy(ctx, path, url, dbcopy.Options{Now: now, Progress: func(table string, rows int64) {
		if rows == 0 {
			progressed = append(progressed, table)
		}
	}})
	if err != nil {
		t.Fatalf("copy: %v", err)
	}
	if after := digest(t, path); after != before {
		t.Error("the source file changed")
	}
	// SQLite opens a WAL file's -wal and -shm even to read it; nothing
	// is written to the log.
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		t.Errorf("the copy wrote %d bytes to the source's log", st.Size())
	}
	rows := map[string]int64{}
	for _, tr := range r.Tables {
		rows[tr.Table] = tr.Copied
		if tr.Copied != tr.Source {
			t.Errorf("%s: %d copied of %d", tr.Table, tr.Copied, tr.Source)
		}
	}
	for table, want := range map[string]int64{"organisations": 3, "devices": 60, "credentials": 2, "credential_key": 1, "plugins": 1, "alerts": 1,
		"watched_kbs": 3, "report_history": 6, "notify_subscriptions": 2, "notify_deliveries": 3, "campaigns": 4, "campaign_waves": 8,
		"campaign_devices": 66, "connection_profiles": 2, "api_tokens": 2, "audit_log": 3} {
		if rows[table] != want {
			t.Errorf("%s: %d rows copied, want %d", table, rows[table], want)
		}
	}
	for _, table := range []string{"device_label_history", "campaign_transitions", "campaign_events", "campaign_counts", "report_history_alerts"} {
		if rows[table] == 0 {
			t.Errorf("%s: nothing copied; the fixture should fill it", table)
		}
	}
	if len(progressed) != len(r.Tables) {
		t.Errorf("progress told of %d tables, %d copied", len(progressed), len(r.Tables))
	}
	// 2 queued in each of the two live campaigns; the cancelled one's stay.
	if r.Requeued != 4 {
		t.Errorf("requeued %d devices, want 4 (queued in the running and paused campaigns)", r.Requeued)
	}
	var checks []string
	for _, c := range r.Checks {
		checks = append(checks, c.Name)
	}
	if want := []string{"rows", "device rollup", "campaign counts", "reports"}; !slices.Equal(checks, want) {
		t.Errorf("checks = %v, want %v", checks, want)
	}

	src, err := sqlite.Open(ctx, path, sqlite.Options{ReadOnly: true, Now: now})
	must(t, err)
	defer src.Close()
	dst, err := store.Open(ctx, url, store.Options{Now: now})
	must(t, err)
	defer dst.Close()
	same(t, &store.SQLite{DB: src}, dst, r.Requeued)

	// The requeued devices are re-dispatchable: the controller's first
	// look at the campaign finds them orphaned and gives them a job.
	cs := must2[store.Campaigns](t)(dst.Campaigns(ctx))
	due := must2[[]string](t)(cs.Due(ctx, now(), time.Now().Add(time.Second)))
	if !slices.Contains(due, "running") || !slices.Contains(due, "paused") {
		t.Errorf("due after the copy = %v, want the running and paused campaigns", due)
	}
	var enqueued []orchestrator.Dispatch
	enqueue := func(_ context.Context, _ orchestrator.Tx, ds []orchestrator.Dispatch) error {
		enqueued = append(enqueued, ds...)
		return nil
	}
	srcCS := must2[*sqlite.Campaigns](t)(src.Campaigns(ctx))
	for _, name := range []string{"running", "paused"} {
		before := map[string]orchestrator.DeviceRecord{}
		for _, d := range must2[[]orchestrator.DeviceRecord](t)(srcCS.Members(ctx, name)) {
			before[d.Hostname] = d
		}
		enqueued = nil
		ds := must2[[]orchestrator.Dispatch](t)(cs.Orphans(ctx, name, time.Now().Add(time.Hour), enqueue))
		queued, running := 0, 0
		for _, d := range ds {
			old := before[d.Hostname]
			switch old.State {
			case orchestrator.DeviceQueued:
				queued++
			case orchestrator.DeviceRunning:
				running++
			default:
				t.Errorf("%s: %s re-queued from %s", name, d.Hostname, old.State)
			}
			if d.Generation != old.Generation+1 {
				t.Errorf("%s: %s re-queued as generation %d, was %d", name, d.Hostname, d.Generation, old.Generation)
			}
			got := must2[orchestrator.DeviceRecord](t)(cs.Device(ctx, name, d.Hostname))
			if got.State != orchestrator.DeviceQueued || string(got.Checkpoint) != string(old.Checkpoint) {
				t.Errorf("%s: %s after the pass: %s, checkpoint %q; want queued, checkpoint %q", name, d.Hostname, got.State, got.Checkpoint, old.Checkpoint)
			}
		}
		if queued != 2 || running == 0 || !slices.Equal(enqueued, ds) {
			t.Errorf("%s: the pass re-queued %d queued and %d running devices (enqueued %d of %d)", name, queued, running, len(enqueued), len(ds))
		}
	}

	// New rows take ids past those copied, and the trail goes on after
	// the seqs copied.
	e := audit.Entry{At: now(), Actor: "carol", Action: "campaign.start", Outcome: audit.Done}
	must(t, must2[store.Audit](t)(dst.Audit(ctx)).Append(ctx, &e))
	if e.Seq != 4 {
		t.Errorf("the first entry appended after the copy took seq %d, want 4", e.Seq)
	}
	ns := must2[store.Notifications](t)(dst.Notifications(ctx))
	sub := must2[notify.Subscription](t)(ns.AddSubscription(ctx, notify.Subscription{Channel: notify.Webhook, URL: "https://hooks.example.nhs.uk/y", Format: notify.FormatJSON}))
	if sub.ID <= 2 {
		t.Errorf("a new subscription took id %d, one of those copied", sub.ID)
	}
	must(t, dst.Inventory().CreateOrganisation(ctx, &inventory.Organisation{Code: "RZZ", Name: "New", TimeZone: "UTC"}))
}

// same compares everything both databases' stores return, through their
// contracts; the devices the copy requeued are compared as it left them.
func same(t *testing.T, src, dst store.DB, requeued int64) {
	t.Helper()
	eq := func(what string, want, got any) {
		t.Helper()
		w, g := reflect.ValueOf(want), reflect.ValueOf(got)
		if w.Kind() == reflect.Slice && g.Kind() == reflect.Slice && w.Len() == 0 && g.Len() == 0 {
			return // nil and empty alike
		}
		if !reflect.DeepEqual(want, got) {
			t.Errorf("%s differs:\nsource %+v\ntarget %+v", what, want, got)
		}
	}
	si, di := src.Inventory(), dst.Inventory()
	eq("organisations", must2[[]inventory.Organisation](t)(si.Organisations(ctx)), must2[[]inventory.Organisation](t)(di.Organisations(ctx)))
	devices := func(inv store.Inventory) []inventory.Device {
		var out []inventory.Device
		for d, err := range inv.Devices(ctx, inventory.Everything()) {
			must(t, err)
			out = append(out, *d)
		}
		return out
	}
	sd, dd := devices(si), devices(di)
	if len(sd) != 60 {
		t.Fatalf("%d devices in the source", len(sd))
	}
	eq("devices", sd, dd)
	for _, d := range sd {
		eq("label history of "+d.Hostname, must2[[]inventory.LabelEvent](t)(si.LabelHistory(ctx, d.Hostname, 100)), must2[[]inventory.LabelEvent](t)(di.LabelHistory(ctx, d.Hostname, 100)))
	}
	eq("connections", must2[[]inventory.Connection](t)(si.Connections(ctx)), must2[[]inventory.Connection](t)(di.Connections(ctx)))
	eq("counts by build", must2[[]inventory.BuildCount](t)(si.CountByOrgAndBuild(ctx)), must2[[]inventory.BuildCount](t)(di.CountByOrgAndBuild(ctx)))
	cohorts := func(inv store.Inventory) []inventory.Cohort {
		var out []inventory.Cohort
		for c, err := range inv.Cohorts(ctx, inventory.Everything()) {
			must(t, err)
			out = append(out, c)
		}
		slices.SortFunc(out, func(a, b inventory.Cohort) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
		return out
	}
	eq("cohorts", cohorts(si), cohorts(di))

	sc, dc := src.Credentials(), dst.Credentials()
	eq("credentials", must2[[]credential.Stored](t)(sc.Credentials(ctx)), must2[[]credential.Stored](t)(dc.Credentials(ctx)))
	skc, sn, err := sc.KeyCheck(ctx)
	must(t, err)
	dkc, dn, err := dc.KeyCheck(ctx)
	must(t, err)
	eq("key check", fmt.Sprint(skc, sn), fmt.Sprint(dkc, dn))
	eq("plugins", must2[[]host.Registration](t)(src.Plugins().Plugins(ctx)), must2[[]host.Registration](t)(dst.Plugins().Plugins(ctx)))

	sa, da := must2[store.Alerts](t)(src.Alerts(ctx)), must2[store.Alerts](t)(dst.Alerts(ctx))
	eq("alerts", must2[[]*alerts.Alert](t)(sa.List(ctx)), must2[[]*alerts.Alert](t)(da.List(ctx)))
	sh, dh := must2[store.History](t)(src.History(ctx)), must2[store.History](t)(dst.History(ctx))
	eq("history", must2[[]report.Snapshot](t)(sh.Load(ctx)), must2[[]report.Snapshot](t)(dh.Load(ctx)))

	sn2, dn2 := must2[store.Notifications](t)(src.Notifications(ctx)), must2[store.Notifications](t)(dst.Notifications(ctx))
	eq("subscriptions", must2[[]notify.Subscription](t)(sn2.Subscriptions(ctx)), must2[[]notify.Subscription](t)(dn2.Subscriptions(ctx)))
	eq("pending deliveries", must2[map[int64]int](t)(sn2.Pending(ctx)), must2[map[int64]int](t)(dn2.Pending(ctx)))

	st, dt := must2[store.Tokens](t)(src.Tokens(ctx)), must2[store.Tokens](t)(dst.Tokens(ctx))
	eq("tokens", must2[[]access.Token](t)(st.Tokens(ctx)), must2[[]access.Token](t)(dt.Tokens(ctx)))
	sau, dau := must2[store.Audit](t)(src.Audit(ctx)), must2[store.Audit](t)(dst.Audit(ctx))
	eq("audit trail", must2[[]audit.Entry](t)(sau.List(ctx, audit.Query{Limit: audit.MaxLimit})), must2[[]audit.Entry](t)(dau.List(ctx, audit.Query{Limit: audit.MaxLimit})))

	scs, dcs := must2[store.Campaigns](t)(src.Campaigns(ctx)), must2[store.Campaigns](t)(dst.Campaigns(ctx))
	list := must2[[]orchestrator.Campaign](t)(scs.Campaigns(ctx))
	eq("campaigns", list, must2[[]orchestrator.Campaign](t)(dcs.Campaigns(ctx)))
	var moved int64
	for _, c := range list {
		name := c.Name
		sw, sst, err := scs.Waves(ctx, name)
		must(t, err)
		dw, dst2, err := dcs.Waves(ctx, name)
		must(t, err)
		eq(name+" waves", fmt.Sprint(sw, sst), fmt.Sprint(dw, dst2))
		eq(name+" events", must2[[]orchestrator.Event](t)(scs.Events(ctx, name)), must2[[]orchestrator.Event](t)(dcs.Events(ctx, name)))
		eq(name+" deferred", must2[[]orchestrator.DeviceRecord](t)(scs.Deferred(ctx, name)), must2[[]orchestrator.DeviceRecord](t)(dcs.Deferred(ctx, name)))
		want := must2[[]orchestrator.DeviceRecord](t)(scs.Members(ctx, name))
		got := must2[[]orchestrator.DeviceRecord](t)(dcs.Members(ctx, name))
		wantTr := must2[[]orchestrator.Transition](t)(scs.Transitions(ctx, name, ""))
		gotTr := must2[[]orchestrator.Transition](t)(dcs.Transitions(ctx, name, ""))
		wantCounts := map[string]int{}
		for _, k := range must2[[]orchestrator.Count](t)(scs.Counts(ctx, name)) {
			wantCounts[fmt.Sprintf("%d %s %s %s %s %v", k.Wave, k.Org, k.Site, k.State, k.Reason, k.Accepted)] += k.Devices
		}
		if c.Status.Live() {
			// What requeue did: queued -> running, lease lapsed at the copy,
			// and a transition saying so.
			for i := range want {
				if want[i].State != orchestrator.DeviceQueued {
					continue
				}
				moved++
				if got[i].State != orchestrator.DeviceRunning || got[i].LeaseUntil.IsZero() {
					t.Errorf("%s: %s is %s (lease %s) after the copy, want running under a lapsed lease", name, got[i].Hostname, got[i].State, got[i].LeaseUntil)
				}
				k := fmt.Sprintf("%d %s %s %s %s %v", want[i].Wave, want[i].Org, want[i].Site, "%s", want[i].Reason, want[i].Accepted)
				wantCounts[fmt.Sprintf(k, orchestrator.DeviceQueued)]--
				wantCounts[fmt.Sprintf(k, orchestrator.DeviceRunning)]++
				want[i].State, want[i].LeaseUntil, want[i].Changed = got[i].State, got[i].LeaseUntil, got[i].Changed
				wantTr = append(wantTr, orchestrator.Transition{ID: gotTr[len(wantTr)].ID, Campaign: name, Hostname: want[i].Hostname,
					Org: want[i].Org, From: orchestrator.DeviceQueued, To: orchestrator.DeviceRunning, Reason: want[i].Reason, At: got[i].Changed,
					Cause: gotTr[len(wantTr)].Cause})
			}
		}
		eq(name+" members", want, got)
		eq(name+" transitions", wantTr, gotTr)
		gotCounts := map[string]int{}
		for _, k := range must2[[]orchestrator.Count](t)(dcs.Counts(ctx, name)) {
			gotCounts[fmt.Sprintf("%d %s %s %s %s %v", k.Wave, k.Org, k.Site, k.State, k.Reason, k.Accepted)] += k.Devices
		}
		for k, v := range wantCounts {
			if v == 0 {
				delete(wantCounts, k)
			}
		}
		eq(name+" counts", wantCounts, gotCounts)
		for _, m := range want[:3] {
			eq(name+" "+m.Hostname, m, must2[orchestrator.DeviceRecord](t)(dcs.Device(ctx, name, m.Hostname)))
		}
	}
	if moved != requeued {
		t.Errorf("the source has %d queued devices in live campaigns, the copy requeued %d", moved, requeued)
	}
}

func TestCopyRefuses(t *testing.T) {
	path, now := source(t)
	url := pgtest.URL(t)
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.db")
	for _, c := range []struct {
		name, from, to string
		want           string
	}{
		{"source missing", missing, url, "does not exist"},
		{"target not PostgreSQL", path, filepath.Join(dir, "other.db"), "is not a PostgreSQL database"},
		{"same file", path, path, "the same file"},
		{"source PostgreSQL", url, url, "must be an SQLite file"},
		{"no target", path, "", "no target"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := dbcopy.Copy(ctx, c.from, c.to, dbcopy.Options{Now: now})
			if !errors.Is(err, dbcopy.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want ErrInvalid saying %q", err, c.want)
			}
		})
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a missing source was created: %v", err)
	}

	t.Run("source older than this ringmaster", func(t *testing.T) {
		old := filepath.Join(dir, "old.db")
		db, err := sqlite.Open(ctx, old, sqlite.Options{}) // the inventory's tables only
		must(t, err)
		must(t, db.Close())
		before := digest(t, old)
		_, err = dbcopy.Copy(ctx, old, pgtest.URL(t), dbcopy.Options{Now: now})
		if !errors.Is(err, sqlite.ErrSchemaOld) || !strings.Contains(err.Error(), "db migrate") {
			t.Errorf("err = %v, want ErrSchemaOld naming db migrate", err)
		}
		if digest(t, old) != before {
			t.Error("the source was migrated")
		}
	})

	t.Run("target not empty", func(t *testing.T) {
		if _, err := dbcopy.Copy(ctx, path, url, dbcopy.Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		rows := targetRows(t, url)
		_, err := dbcopy.Copy(ctx, path, url, dbcopy.Options{Now: now})
		if !errors.Is(err, dbcopy.ErrNotEmpty) || !strings.Contains(err.Error(), "organisations") || !strings.Contains(err.Error(), "campaign_devices") {
			t.Errorf("err = %v, want ErrNotEmpty naming the tables that hold rows", err)
		}
		if got := targetRows(t, url); !reflect.DeepEqual(got, rows) {
			t.Errorf("the refused copy changed the target: %v, was %v", got, rows)
		}
	})
}

// targetRows counts the rows of every table of the stores in the
// PostgreSQL database at url, but for the schema's own (migrations, the
// history's generation counter: one row from the start).
func targetRows(t *testing.T, url string) map[string]int64 {
	t.Helper()
	db, err := store.Open(ctx, url, store.Options{})
	must(t, err)
	defer db.Close()
	pool := db.(*store.Postgres).Pool()
	names := must2[[]string](t)(pgx.CollectRows(must2[pgx.Rows](t)(pool.Query(ctx,
		`SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename NOT LIKE '%migrations'
			AND tablename <> 'report_history_generation' ORDER BY 1`)), pgx.RowTo[string]))
	out := map[string]int64{}
	for _, n := range names {
		var c int64
		must(t, pool.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{n}.Sanitize()).Scan(&c))
		out[n] = c
	}
	return out
}

// TestCopyIsAllOrNothing: a copy that fails half-way, on a row the target
// refuses or on a check, leaves the target empty.
func TestCopyIsAllOrNothing(t *testing.T) {
	for _, c := range []struct {
		name   string
		tamper string // run on the source
		want   error
		says   string
	}{
		// PostgreSQL's text holds no NUL; the outbox is copied last.
		{"a row the target refuses", `UPDATE notify_deliveries SET last_error = 'x' || char(0) || 'y'`, nil, "copy notify_deliveries"},
		{"a rollup that differs", `UPDATE device_rollup SET devices = devices + 1 WHERE org_id = (SELECT min(org_id) FROM device_rollup)`, dbcopy.ErrMismatch, "device rollup"},
		{"counts that differ", `UPDATE campaign_counts SET devices = devices + 1 WHERE state = 'pending'`, dbcopy.ErrMismatch, "campaign counts"},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, now := source(t)
			db, err := sqlite.Open(ctx, path, sqlite.Options{})
			must(t, err)
			_, err = db.SQL().ExecContext(ctx, c.tamper)
			must(t, err)
			must(t, db.Close())
			url := pgtest.URL(t)
			_, err = dbcopy.Copy(ctx, path, url, dbcopy.Options{Now: now})
			if err == nil || (c.want != nil && !errors.Is(err, c.want)) || !strings.Contains(err.Error(), c.says) {
				t.Fatalf("err = %v, want one saying %q", err, c.says)
			}
			for table, n := range targetRows(t, url) {
				if n != 0 {
					t.Errorf("%s holds %d row(s) after a failed copy", table, n)
				}
			}
		})
	}
}
