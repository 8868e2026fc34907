package campaigns_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/internal/simtest"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/scheduler"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
	"github.com/ringmaster-fleet/ringmaster/plugins/winrm/fleetsim/device"
)

// runEstate is an estate of simulated devices with a scheduler running
// its campaigns through the real WinRM executor.
func runEstate(t *testing.T, n int) *estate {
	t.Helper()
	specs := make([]device.Spec, n)
	rows := make([]string, n)
	for i := range specs {
		specs[i] = simtest.Win10(device.Behaviour{})
		specs[i].Hostname = fmt.Sprintf("pc%03d.r%c.nhs.uk", i, 'a'+i%2)
		rows[i] = fmt.Sprintf("%s,R%c,%s,", specs[i].Hostname, 'A'+i%2, specs[i].Build)
	}
	devs := simtest.Start(t, 600, specs...)
	r := simtest.ReacherOf(devs)
	e := newEstate(t, rows...)
	ctx := context.Background()
	if err := scheduler.Migrate(ctx, scheduler.SQLiteJobs(e.db.SQL(), nil)); err != nil {
		t.Fatal(err)
	}
	s, err := scheduler.New(scheduler.Config{Jobs: scheduler.SQLiteJobs(e.db.SQL(), nil), Store: e.store, Inventory: e, Reacher: r, Playbook: playbooks.Parse,
		Clock: devs[0].Clock, EngineClock: devs[0].Clock, Workers: 10, Tick: 50 * time.Millisecond, Lease: 5 * time.Second,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return e
}

// waitFor polls show until ok, for at most a minute.
func waitFor(t *testing.T, e *estate, name string, ok func(d campaigns.Detail) bool) campaigns.Detail {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		d, err := e.service().Show(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		if ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("campaign %s never got there: %+v", name, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRun drives campaigns through the Go API on simulated devices: one
// that succeeds, and one whose wave halts, that show says waits for a
// person, and that retry reopens.
func TestRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs simulated devices")
	}
	e := runEstate(t, 4)
	e.write(t, "fail.yaml", "name: always-fails\nversion: 1.0.0\ndescription: Fails.\nsteps:\n  - {name: refuse, fail: \"broken: on purpose\"}\n")
	ctx := context.Background()
	svc := e.service()
	for _, f := range []string{
		"name: discovery\nplaybook: discover\nwaves: [{name: all}]\n",
		"name: doomed\nplaybook: fail.yaml\nwaves: [{name: only, max_failure_percent: 10}, {name: never}]\n",
	} {
		c, err := svc.Create(ctx, "c.yaml", []byte(f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Start(ctx, c.Spec.Name); err != nil {
			t.Fatal(err)
		}
	}

	done := waitFor(t, e, "discovery", func(d campaigns.Detail) bool { return d.Status == string(orchestrator.StatusDone) })
	if done.States["succeeded"] != 4 || done.NeedsPerson || done.Waves[0].Completed == nil {
		t.Errorf("discovery done: %+v", done)
	}

	// The wave halts once enough failed (the last may still run then).
	// Show asks the controller what waits before a control pass has stored
	// the halt, so wait for the stored wave too.
	haltedAll := func(d campaigns.Detail) bool {
		return d.NeedsPerson && d.States["failed"] == 4 && d.Waves[0].Status == string(orchestrator.WaveHalted)
	}
	halts := func(why string) bool {
		return strings.HasPrefix(why, "wave only halted: ") && strings.HasSuffix(why, "above max_failure_percent 10 (ringmaster campaign continue doomed --wave only, or ringmaster campaign retry doomed --failed --wave only)")
	}
	halted := waitFor(t, e, "doomed", haltedAll)
	if !halts(halted.WaitsFor) || halted.Waves[0].Status != string(orchestrator.WaveHalted) || halted.States["failed"] != 4 ||
		len(halted.Reasons) != 1 || halted.Reasons[0].Reason != "broken" || halted.Reasons[0].Devices != 4 {
		t.Fatalf("halted: %+v", halted)
	}
	h, err := svc.Device(ctx, "doomed", "pc000.ra.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, tr := range h.Transitions {
		path = append(path, string(tr.To))
	}
	if got := strings.Join(path, ","); got != "queued,running,failed" || h.Device.Reason != "broken" || h.Device.Message == "" {
		t.Fatalf("history %s, reason %q %q", got, h.Device.Reason, h.Device.Message)
	}

	list, err := svc.List(ctx)
	if err != nil || len(list) != 2 || list[0].Name != "discovery" || list[0].States["succeeded"] != 4 || list[1].States["failed"] != 4 {
		t.Fatalf("list: %+v, %v", list, err)
	}

	// Retry: another reason reopens nothing; the failure's own reopens
	// every device and the halted wave, and the campaign runs again (and
	// halts again: the playbook still fails).
	if n, err := svc.Retry(ctx, "doomed", orchestrator.DeviceFilter{Reason: "rolled_back:0xC1900101"}); n != 0 || err != nil {
		t.Fatalf("retry another reason: %d, %v", n, err)
	}
	if n, err := svc.Retry(ctx, "doomed", orchestrator.DeviceFilter{Reason: "broken"}); n != 4 || err != nil {
		t.Fatalf("retry: %d, %v", n, err)
	}
	again := waitFor(t, e, "doomed", haltedAll)
	if !halts(again.WaitsFor) {
		t.Fatalf("after retry: %+v", again)
	}
	h, err = svc.Device(ctx, "doomed", "pc000.ra.nhs.uk")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(h.Transitions); n != 7 || h.Transitions[3].From != orchestrator.DeviceFailed || h.Transitions[3].To != orchestrator.DevicePending ||
		h.Transitions[3].Cause != "retry command" {
		t.Fatalf("history after retry: %+v", h.Transitions)
	}
}
