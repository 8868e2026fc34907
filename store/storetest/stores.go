package storetest

import (
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/credentials"
	"github.com/ringmaster-fleet/ringmaster/discovery"
	"github.com/ringmaster-fleet/ringmaster/estate"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/notify"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/plugins/host"
	"github.com/ringmaster-fleet/ringmaster/report"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// Each store's type is its domain contract together with everything its
// consumers declare they take of it, so that the suites follow them as
// they change: an engine is held to all of them.

// InventoryStore is the inventory an engine provides.
type InventoryStore interface {
	inventory.Store
	orchestrator.Inventory // the controller's reads
	campaigns.Inventory
	reports.Inventory
	estate.Store
	estate.Devices
	estate.Importer
	estate.DeviceStore
	discovery.Recorder
	targets.Organisations
	targets.Profiles
}

// CampaignStore is the campaign store an engine provides: the
// scheduler's, campaign commands' and read models', and reports'.
type CampaignStore interface {
	orchestrator.Store
	campaigns.Store
	reports.Campaigns
}

// AlertStore is the alert store an engine provides.
type AlertStore interface {
	alerts.Store
	reports.Alerts
}

// HistoryStore is the store of the reports' daily history an engine
// provides.
type HistoryStore interface {
	report.HistoryStore
	reports.History
	reports.Recorder
}

// CredentialStore is the credential store an engine provides.
type CredentialStore interface {
	credential.Store
	credentials.Store
	targets.Credentials
}

// PluginRegistry is the plugin registry an engine provides.
type PluginRegistry interface {
	host.Registry
	targets.Plugins
}

// NotificationStore is the store of notification subscriptions and
// their outbox an engine provides.
type NotificationStore interface {
	notify.Store
}

// Stores are every store of an engine over one fresh, empty database:
// what one store does to another's data (an alert's updates watched by
// the inventory's rollup, its figures forgotten by the history, a
// credential in use by an organisation) is tested through them.
type Stores struct {
	Inventory   InventoryStore
	Campaigns   CampaignStore
	Alerts      AlertStore
	History     HistoryStore
	Credentials CredentialStore
	Plugins     PluginRegistry
	// Notifications may be nil for an engine without it yet: its suite
	// then fails.
	Notifications NotificationStore
}

// Open opens every store over a fresh, empty database whose time is now;
// the database is closed when t ends. Every suite takes one.
type Open func(t *testing.T, now func() time.Time) Stores
