package storetest

import (
	"testing"
	"time"

	"github.com/ringmaster-fleet/ringmaster/store"
)

// The stores' types are package store's: each its domain contract with
// everything its consumers declare they take of it, so that the suites
// follow them as they change and an engine is held to all of them.
type (
	InventoryStore    = store.Inventory
	CampaignStore     = store.Campaigns
	AlertStore        = store.Alerts
	HistoryStore      = store.History
	CredentialStore   = store.Credentials
	PluginRegistry    = store.Plugins
	NotificationStore = store.Notifications
	NodeRegistry      = store.Nodes
	TokenStore        = store.Tokens
	AuditStore        = store.Audit
)

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
	Nodes         NodeRegistry
	Tokens        TokenStore
	Audit         AuditStore
}

// Open opens every store over a fresh, empty database whose time is now;
// the database is closed when t ends. Every suite takes one.
type Open func(t *testing.T, now func() time.Time) Stores
