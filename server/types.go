package server

import (
	"time"

	"github.com/ringmaster-fleet/ringmaster/access"
	"github.com/ringmaster-fleet/ringmaster/alerts"
	"github.com/ringmaster-fleet/ringmaster/campaigns"
	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// The API's own JSON forms, where a domain type has no stable one (or
// holds what must not leave: a run's checkpoint).

// Whoami is the caller as the server sees it.
type Whoami struct {
	Subject string `json:"subject"`
	Role    string `json:"role"`
	Scope   string `json:"scope"`
	Via     string `json:"via"`
	TokenID string `json:"token_id,omitempty"`
	// Orgs are the organisations the scope covers now; All is true (and
	// Orgs empty) for the estate.
	All  bool     `json:"all"`
	Orgs []string `json:"orgs"`
}

// Fact is one observed fact and when it was observed.
type Fact struct {
	Value      string    `json:"value"`
	ObservedAt time.Time `json:"observed_at,omitzero"`
}

// Device is a device of the inventory.
type Device struct {
	Hostname   string            `json:"hostname"`
	Address    string            `json:"address"`
	Org        string            `json:"org"`
	Site       string            `json:"site"`
	Labels     map[string]string `json:"labels"`
	Credential string            `json:"credential"` // its name; secrets never leave
	Release    string            `json:"release"`
	Facts      map[string]Fact   `json:"facts"`
	LastSeen   time.Time         `json:"last_seen,omitzero"`
	CreatedAt  time.Time         `json:"created_at"`
	UpdatedAt  time.Time         `json:"updated_at"`
}

func deviceOf(d *inventory.Device) Device {
	out := Device{Hostname: d.Hostname, Address: d.Address, Org: d.Org, Site: d.Site, Labels: map[string]string{},
		Credential: d.Credential, Release: d.Release(), Facts: map[string]Fact{}, LastSeen: d.LastSeen,
		CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt}
	for k, v := range d.Labels {
		out.Labels[k] = v
	}
	for _, f := range inventory.AllFacts() {
		if d.Facts.Known(f) {
			out.Facts[f.String()] = Fact{Value: d.Facts.Value(f), ObservedAt: d.Facts.ObservedAt[f]}
		}
	}
	return out
}

// DevicePage is a page of the inventory's devices.
type DevicePage struct {
	Devices []Device `json:"devices"`
	// Next is the cursor of the next page (after=), "" on the last.
	Next string `json:"next"`
}

// CampaignDevicePage is a page of a campaign's devices.
type CampaignDevicePage struct {
	Devices []campaigns.DeviceRow `json:"devices"`
	Next    string                `json:"next"`
}

// Transition is a recorded change of a campaign device's state.
type Transition struct {
	From   string    `json:"from"`
	To     string    `json:"to"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	Cause  string    `json:"cause"`
}

// DeviceHistory is a campaign device and every transition it went through.
type DeviceHistory struct {
	Campaign    string               `json:"campaign"`
	Device      campaigns.DeviceRow  `json:"device"`
	Transitions []Transition         `json:"transitions"`
	Decisions   []orchestrator.Event `json:"decisions"`
}

func historyOf(h campaigns.History, waves []string) DeviceHistory {
	out := DeviceHistory{Campaign: h.Campaign, Device: campaigns.RowOf(h.Device, waves), Transitions: []Transition{}, Decisions: h.Decisions}
	for _, t := range h.Transitions {
		out.Transitions = append(out.Transitions, Transition{From: string(t.From), To: string(t.To), Reason: string(t.Reason), At: t.At, Cause: t.Cause})
	}
	if out.Decisions == nil {
		out.Decisions = []orchestrator.Event{}
	}
	return out
}

// StatusChange is a campaign's status after an action.
type StatusChange struct {
	Campaign string `json:"campaign"`
	Before   string `json:"before"`
	Status   string `json:"status"`
}

// Created is a campaign just created, as a draft.
type Created struct {
	Name      string `json:"name"`
	Playbook  string `json:"playbook"`
	Devices   int    `json:"devices"`
	WaveSizes []int  `json:"wave_sizes"`
	Unwaved   int    `json:"unwaved"`
	// Started says the campaign was started as it was created (a
	// discovery unless asked not to be).
	Started bool `json:"started,omitempty"`
}

// Changed counts the devices an action changed.
type Changed struct {
	Campaign string `json:"campaign"`
	Devices  int    `json:"devices"`
}

// Alert is a High Severity Alert.
type Alert struct {
	ID          string              `json:"id"`
	Title       string              `json:"title"`
	Issued      string              `json:"issued"`
	Deadline    string              `json:"deadline"`
	Remediation map[string][]string `json:"remediation"`
	KBs         []string            `json:"kbs"`
}

func alertOf(a *alerts.Alert) Alert {
	return Alert{ID: a.ID, Title: a.Title, Issued: a.Issued, Deadline: a.Deadline, Remediation: a.Remediation, KBs: a.KBs()}
}

// RemovedAlert is an alert just removed: as it read, or why it could not
// be read (one stored by an earlier version).
type RemovedAlert struct {
	ID         string `json:"id"`
	Alert      *Alert `json:"alert,omitempty"`
	Unreadable string `json:"unreadable,omitempty"`
}

// NewToken is a token just created, with its secret: shown this once.
type NewToken struct {
	access.Token
	Secret string `json:"secret"`
}
