package scheduler

import (
	"context"
	"fmt"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/orchestrator/sqlite"
	"github.com/ringmaster-fleet/ringmaster/playbooks"
)

// Sources are where a new campaign's devices and playbook come from.
type Sources struct {
	// Devices returns the inventory's devices a selector matches.
	Devices func(ctx context.Context, sel inventory.Selector) ([]*inventory.Device, error)
	// Playbook resolves a campaign's playbook name (a built-in or a file) to
	// where it came from and its YAML.
	Playbook func(name string) (file string, src []byte, err error)
	// TimeZones returns the organisations' IANA time zones by code, which
	// maintenance windows without a zone of their own are read in; nil
	// reads them in UTC.
	TimeZones func(ctx context.Context) (map[string]string, error)
}

// Created summarises a new campaign.
type Created struct {
	Spec      *orchestrator.Spec
	WaveSizes []int
	Unwaved   int // targets no wave took
}

// Create validates a campaign file against its playbook (the parameters
// must suit it) and its windows against the calendar (each must open
// within orchestrator.WindowHorizonYears of the store's now, in the zone
// of every organisation it serves), splits the target devices into waves
// and stores it as a draft; nothing is stored when anything is wrong.
func Create(ctx context.Context, store *sqlite.Store, src Sources, file string, data []byte) (Created, error) {
	spec, err := orchestrator.ParseSpec(file, data)
	if err != nil {
		return Created{}, err
	}
	pbFile, pbSrc, err := src.Playbook(spec.Playbook)
	if err != nil {
		return Created{}, fmt.Errorf("%s: playbook %s: %w", file, spec.Playbook, err)
	}
	pb, err := playbooks.Parse(pbFile, pbSrc)
	if err != nil {
		return Created{}, fmt.Errorf("%s: playbook %s: %w", file, spec.Playbook, err)
	}
	if _, err := pb.Values(spec.Params); err != nil {
		return Created{}, fmt.Errorf("%s: params for playbook %s: %w", file, pb.Name, err)
	}
	devices, err := src.Devices(ctx, spec.TargetSelector())
	if err != nil {
		return Created{}, fmt.Errorf("%s: target: %w", file, err)
	}
	if len(devices) == 0 {
		return Created{}, fmt.Errorf("%s: target %q matches no device in the inventory", file, spec.Target)
	}
	zones, err := orgZones(ctx, src, devices)
	if err != nil {
		return Created{}, fmt.Errorf("%s: %w", file, err)
	}
	if err := spec.CheckWindows(store.Now(), zones); err != nil {
		return Created{}, err
	}
	members := orchestrator.Assign(spec, devices)
	out := Created{Spec: spec, WaveSizes: make([]int, len(spec.Waves))}
	names := make([]string, len(spec.Waves))
	for i, w := range spec.Waves {
		names[i] = w.Name
	}
	for _, m := range members {
		if m.Wave < 0 {
			out.Unwaved++
		} else {
			out.WaveSizes[m.Wave]++
		}
	}
	c := sqlite.Campaign{Name: spec.Name, SpecFile: file, Spec: string(data), PlaybookFile: pbFile, Playbook: string(pbSrc)}
	if err := store.Create(ctx, c, names, members); err != nil {
		return Created{}, err
	}
	return out, nil
}

// orgZones maps the organisations of devices to their time zones.
func orgZones(ctx context.Context, src Sources, devices []*inventory.Device) (map[string]string, error) {
	var all map[string]string
	if src.TimeZones != nil {
		var err error
		if all, err = src.TimeZones(ctx); err != nil {
			return nil, fmt.Errorf("organisations' time zones: %w", err)
		}
	}
	zones := map[string]string{}
	for _, d := range devices {
		zones[d.Org] = all[d.Org]
	}
	return zones, nil
}
