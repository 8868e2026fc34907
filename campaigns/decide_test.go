package campaigns_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

const decideCampaign = "name: c\nplaybook: discover\nwaves:\n  - {name: pilot, count: 4}\n  - {name: rest, approval: manual}\n"

// started creates and starts decideCampaign over ten devices and fails the
// pilot's first n devices (insufficient_disk) through the store, as
// workers would.
func started(t *testing.T, n int) (*estate, *campaigns.Service, []orchestrator.DeviceRecord) {
	t.Helper()
	e := newEstate(t, hosts(10)...)
	ctx := context.Background()
	svc := e.service()
	if _, err := svc.Create(ctx, "c.yaml", []byte(decideCampaign)); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Start(ctx, "c"); err != nil {
		t.Fatal(err)
	}
	ms, err := e.store.Members(ctx, "c")
	if err != nil {
		t.Fatal(err)
	}
	var pilot []string
	for _, m := range ms {
		if m.Wave == 0 && len(pilot) < n {
			pilot = append(pilot, m.Hostname)
		}
	}
	c, _ := e.store.Campaign(ctx, "c")
	if _, err := e.store.Apply(ctx, "c", c.Seq, orchestrator.Plan{Dispatch: pilot, WaveChanges: []orchestrator.WaveChange{
		{Wave: 0, State: orchestrator.WaveState{Status: orchestrator.WaveHalted, Started: now, Reason: "halted"}}}}, now, "controller", nil); err != nil {
		t.Fatal(err)
	}
	for _, h := range pilot {
		if _, err := e.store.Begin(ctx, "c", h, 1, now, time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := e.store.Finish(ctx, "c", h, 1, orchestrator.DeviceFailed, "insufficient_disk", "low disk", time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	ms, _ = e.store.Members(ctx, "c")
	return e, svc, ms
}

func TestDecisions(t *testing.T) {
	alice := campaigns.Decision{Actor: "alice", Reason: "known"}
	tests := []struct {
		name   string
		act    func(ctx context.Context, svc *campaigns.Service, ms []orchestrator.DeviceRecord) error
		err    error  // errors.Is; nil for success
		errHas string // the error says it
		check  func(t *testing.T, d campaigns.Detail)
	}{
		{name: "continue a halted wave", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			n, err := svc.Continue(ctx, "c", "pilot", "", alice)
			if err == nil && n != 2 {
				return errors.New("accepted " + strings.Repeat("x", n))
			}
			return err
		}, check: func(t *testing.T, d campaigns.Detail) {
			if d.Waves[0].Status != "active" || len(d.Events) != 1 || d.Events[0].Actor != "alice" || d.Events[0].Reason != "known" || d.NeedsPerson {
				t.Errorf("after continue: %+v", d)
			}
		}},
		{name: "continue without an actor", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Continue(ctx, "c", "pilot", "", campaigns.Decision{})
			return err
		}, err: errkind.Invalid, errHas: "say who decides"},
		{name: "continue a wave not started", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Continue(ctx, "c", "rest", "", alice)
			return err
		}, err: orchestrator.ErrState, errHas: "wave rest of campaign c is pending"},
		{name: "approve a wave with no manual gate", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			return svc.Approve(ctx, "c", "pilot", alice)
		}, err: orchestrator.ErrState, errHas: "wave pilot of campaign c has no manual gate"},
		{name: "approve a manual wave", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			return svc.Approve(ctx, "c", "rest", alice)
		}, check: func(t *testing.T, d campaigns.Detail) {
			if len(d.Events) != 1 || d.Events[0].Action != "approve" || d.Events[0].Wave != "rest" {
				t.Errorf("events %+v", d.Events)
			}
		}},
		{name: "set a threshold", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Set(ctx, "c", []orchestrator.Change{{Field: orchestrator.FieldMaxFailurePercent, Key: "pilot", Value: "60", Source: "--max-failure-percent pilot=60"}}, alice)
			return err
		}, check: func(t *testing.T, d campaigns.Detail) {
			// The halted wave stays halted, but says its failures are within
			// the new threshold now.
			if !strings.Contains(d.Waves[0].Reason, "2 of 4 devices failed, now within max_failure_percent 60") || d.Events[0].Action != "set" {
				t.Errorf("after set: %q %+v", d.Waves[0].Reason, d.Events)
			}
		}},
		{name: "set a window that never opens", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Set(ctx, "c", []orchestrator.Change{{Field: orchestrator.FieldWindow, Key: "default", Value: "0 0 30 2 * for 8h", Source: "--window"}}, alice)
			return err
		}, errHas: "never opens"},
		{name: "set the targets", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Set(ctx, "c", []orchestrator.Change{{Field: "target", Value: "org=RA", Source: "--target"}}, alice)
			return err
		}, err: errkind.Invalid, errHas: "--target: campaign set cannot change target"},
		{name: "exclude and include", act: func(ctx context.Context, svc *campaigns.Service, ms []orchestrator.DeviceRecord) error {
			hosts := []string{strings.ToUpper(ms[9].Hostname), ms[0].Hostname}
			ch, err := svc.Exclude(ctx, "c", campaigns.Selection{Hosts: hosts}, alice)
			if err != nil || len(ch.Moved) != 1 || len(ch.Unmoved) != 1 {
				return errors.New("exclude moved the wrong devices")
			}
			_, err = svc.Include(ctx, "c", campaigns.Selection{Selector: "org=" + ms[9].Org}, alice)
			return err
		}, check: func(t *testing.T, d campaigns.Detail) {
			if d.States["skipped"] != 0 || len(d.Events) != 2 || d.Events[1].Action != "include" {
				t.Errorf("after exclude and include: %+v %+v", d.States, d.Events)
			}
		}},
		{name: "exclude naming no device", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Exclude(ctx, "c", campaigns.Selection{}, alice)
			return err
		}, err: errkind.Invalid},
		{name: "retry one organisation", act: func(ctx context.Context, svc *campaigns.Service, _ []orchestrator.DeviceRecord) error {
			_, err := svc.Retry(ctx, "c", orchestrator.DeviceFilter{Wave: "pilot", Org: "rz"})
			return err
		}, check: func(t *testing.T, d campaigns.Detail) {
			if d.States["failed"] != 2 {
				t.Errorf("a retry of an organisation with no failure reopened some: %+v", d.States)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, svc, ms := started(t, 2)
			ctx := context.Background()
			err := tt.act(ctx, svc, ms)
			if tt.err != nil || tt.errHas != "" {
				if err == nil || (tt.err != nil && !errors.Is(err, tt.err)) || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err %v, want %v saying %q", err, tt.err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			d, err := svc.Show(ctx, "c")
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, d)
		})
	}
}

func TestDevicesPages(t *testing.T) {
	_, svc, ms := started(t, 2)
	ctx := context.Background()
	var got []string
	q := campaigns.DeviceQuery{Limit: 3}
	for pages := 0; pages < 10; pages++ {
		p, err := svc.Devices(ctx, "c", q)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range p.Devices {
			got = append(got, d.Hostname)
		}
		if p.Next == "" {
			break
		}
		q.After = p.Next
	}
	if len(got) != len(ms) || got[0] != ms[0].Hostname || got[9] != ms[9].Hostname {
		t.Fatalf("pages gave %v, want every device in dispatch order", got)
	}
	p, err := svc.Devices(ctx, "c", campaigns.DeviceQuery{DeviceFilter: orchestrator.DeviceFilter{State: "failed", Wave: "pilot"}})
	if err != nil || len(p.Devices) != 2 || p.Next != "" || p.Devices[0].Reason != "insufficient_disk" {
		t.Fatalf("failed devices: %+v %v", p, err)
	}
	for _, tt := range []struct {
		q    campaigns.DeviceQuery
		kind error
	}{
		{campaigns.DeviceQuery{DeviceFilter: orchestrator.DeviceFilter{Wave: "nope"}}, errkind.NotFound},
		{campaigns.DeviceQuery{DeviceFilter: orchestrator.DeviceFilter{State: "broken"}}, errkind.Invalid},
		{campaigns.DeviceQuery{Limit: campaigns.MaxPage + 1}, errkind.Invalid},
		{campaigns.DeviceQuery{After: "nope.ra.nhs.uk"}, errkind.NotFound},
	} {
		if _, err := svc.Devices(ctx, "c", tt.q); !errors.Is(err, tt.kind) {
			t.Errorf("devices %+v: %v, want %v", tt.q, err, tt.kind)
		}
	}
	if _, err := svc.Devices(ctx, "nope", campaigns.DeviceQuery{}); !errors.Is(err, errkind.NotFound) {
		t.Errorf("devices of a missing campaign: %v", err)
	}
}
