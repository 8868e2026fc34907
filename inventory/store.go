package inventory

import (
	"context"
	"iter"
	"time"
)

// Store is the contract every inventory store implements (store/sqlite's
// Inventory today, PostgreSQL's next; a conformance suite will check
// each): organisations, devices with their observed facts, imports, and
// the rollup that reports read, kept exact in the transaction that changes
// a device. Errors wrap errkind's kinds: NotFound, Exists, InUse, Invalid.
//
// Consumers declare the small part they use where they use it (targets,
// discovery, campaigns, reports); this is the whole of it.
type Store interface {
	// CreateOrganisation validates and stores a new organisation.
	CreateOrganisation(ctx context.Context, o *Organisation) error
	// Organisation returns one organisation by code.
	Organisation(ctx context.Context, code string) (Organisation, error)
	// Organisations lists every organisation, by code.
	Organisations(ctx context.Context) ([]Organisation, error)
	// RemoveOrganisation deletes an organisation that has no devices
	// (else an error wrapping errkind.InUse).
	RemoveOrganisation(ctx context.Context, code string) error
	// TimeZones maps each organisation's code to its time zone.
	TimeZones(ctx context.Context) (map[string]string, error)

	// SetConnection validates c and stores it as its organisation's
	// connection profile (c.Org "" is the estate default), replacing any,
	// with the organisation's credential in the same transaction; the
	// organisation and a named credential must exist (errkind.NotFound).
	SetConnection(ctx context.Context, c *Connection) error
	// Connection returns an organisation's connection profile ("" the
	// estate default), or an error wrapping errkind.NotFound.
	Connection(ctx context.Context, org string) (Connection, error)
	// Connections lists every connection profile, the default first, then
	// by organisation code.
	Connections(ctx context.Context) ([]Connection, error)
	// ClearConnection removes an organisation's connection profile ("" the
	// default's, with its credential), or fails with errkind.NotFound; an
	// organisation's credential stays.
	ClearConnection(ctx context.Context, org string) error

	// Device returns one device by hostname.
	Device(ctx context.Context, hostname string) (Device, error)
	// Devices yields every device sel matches, by organisation, then
	// hostname.
	Devices(ctx context.Context, sel Selector) iter.Seq2[*Device, error]
	// RemoveDevices deletes the devices sel matches, all or none, and
	// returns their hostnames; an empty selector is refused.
	RemoveDevices(ctx context.Context, sel Selector) ([]string, error)
	// CountByOrgAndBuild counts devices per organisation and build.
	CountByOrgAndBuild(ctx context.Context) ([]BuildCount, error)
	// LastSeen returns when each of hosts was last seen (absent: never).
	LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error)
	// RecordObservation merges facts observed on a device, keeping the
	// newest observation per fact, and marks it seen.
	RecordObservation(ctx context.Context, hostname string, f Facts, seen time.Time) error
	// RecordObservations records many observations, all or none.
	RecordObservations(ctx context.Context, obs []Observation) error

	// LabelDevices makes the changes to the labels of every device sel
	// matches in one transaction, all or none, and records each label
	// it adds, changes or removes in the label history with the store's
	// time and actor (who asked). An empty selector is refused; a change
	// that would give a device too many labels fails it all (Invalid).
	LabelDevices(ctx context.Context, sel Selector, changes []LabelChange, actor string) (LabelResult, error)
	// LabelHistory returns a device's last label changes, newest first,
	// at most limit of them (NotFound for a device not held).
	LabelHistory(ctx context.Context, hostname string, limit int) ([]LabelEvent, error)

	// Import merges every record of src into the store in one
	// transaction (Import's rules), all or nothing; opts.DryRun rolls it
	// back after counting.
	Import(ctx context.Context, src RecordSource, opts ImportOptions) (ImportResult, error)

	// Cohorts yields devices alike, counted by the rollup where sel names
	// only what cohorts keep.
	Cohorts(ctx context.Context, sel Selector) iter.Seq2[Cohort, error]
	// WatchKBs makes the rollup count the given updates; it returns how
	// many were not watched before.
	WatchKBs(ctx context.Context, kbs []string) (int, error)
	// UnwatchedKBs returns those of kbs the rollup does not count.
	UnwatchedKBs(ctx context.Context, kbs []string) ([]string, error)
}
