package orchestrator

import (
	"context"
	"errors"
	"time"
)

// The store's errors besides errkind's (errkind.NotFound for a campaign,
// wave or device that does not exist, errkind.Exists for a campaign name
// already taken), declared once here so that every store (SQLite today,
// PostgreSQL next) reports them alike and callers decide with errors.Is,
// never by matching messages.
var (
	// ErrState is a change the current state does not allow (see
	// Status.Apply and the device transitions), or a device another worker
	// holds.
	ErrState = errors.New("not allowed in the current state")
	// ErrStale is a job for a dispatch that has since been superseded: a
	// newer generation, or a device that moved on.
	ErrStale = errors.New("stale dispatch")
)

// Campaign is a stored campaign: the spec and playbook as they were at
// creation, where it stands, and when the controller looks at it again.
type Campaign struct {
	Name         string
	SpecFile     string
	Spec         string // the campaign YAML as created
	PlaybookFile string
	Playbook     string // the playbook YAML as it was at creation
	Status       Status
	WakeAt       time.Time
	// Seq counts the changes that call for a decision; Apply takes the Seq
	// its view was read at.
	Seq       int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// DeviceRecord is a campaign member with what the store keeps of its run.
type DeviceRecord struct {
	Member
	Message    string
	Step       string
	Generation int
	LeaseUntil time.Time
	Checkpoint []byte
}

// Dispatch is a device queued to run, with the generation its job carries
// and its organisation (its job goes to a queue of a node serving it).
type Dispatch struct {
	Campaign   string
	Hostname   string
	Org        string
	Generation int
}

// Run is what a worker needs to run a device: its attempt, the run's id on
// the device (the same across resumes) and where the last run stopped.
type Run struct {
	Attempt    int
	RunID      string
	Checkpoint []byte
}

// StateCount is how many devices of a campaign's wave are in one state.
type StateCount struct {
	Wave    int
	State   DeviceState
	Devices int
}

// DeviceFilter selects a campaign's devices for a listing or a retry:
// every field that is set must match.
type DeviceFilter struct {
	Wave   string      // a wave's name
	Org    string      // an organisation's code
	State  DeviceState // a device state
	Reason Reason      // the reason it ended or waits
}

// Event is a person's decision on a campaign, as recorded: who took it,
// when, what (continue, set, exclude, include, approve), where (a wave,
// an organisation), what it changed, and why.
type Event struct {
	ID       int64     `json:"id"`
	Campaign string    `json:"campaign"`
	At       time.Time `json:"at"`
	Actor    string    `json:"actor"`
	Action   string    `json:"action"`
	Wave     string    `json:"wave,omitempty"`
	Org      string    `json:"org,omitempty"`
	Detail   string    `json:"detail"`
	Reason   string    `json:"reason,omitempty"`
}

// DeviceChange is what a person's move of named devices (exclude,
// include) did: the devices it moved, those in a state the move does not
// take (as they stand), and the names not in the campaign.
type DeviceChange struct {
	Moved   []string
	Unmoved []Member
	Missing []string
}

// Enqueue inserts the jobs of dispatched devices inside the transaction
// that queued them, so that both commit or neither. The store calls it; the
// scheduler supplies it.
type Enqueue func(ctx context.Context, tx Tx, ds []Dispatch) error

// Tx is a store's transaction, handed through the domain unopened: the
// domain knows no database. A database/sql store passes its *sql.Tx, a pgx
// one its pgx.Tx; the scheduler's job queue driver must take the same kind,
// and refuses another with an error.
type Tx any

// Reader is what a View is read from: a campaign, its waves, its devices'
// counts, its deferred devices and, a page at a time, its pending ones.
// Nothing it returns grows with the campaign's devices but the deferred
// ones and the pages asked for.
type Reader interface {
	// Campaign returns one campaign, or an error wrapping errkind.NotFound.
	Campaign(ctx context.Context, name string) (Campaign, error)
	// Waves returns a campaign's waves' names and states, in order.
	Waves(ctx context.Context, name string) ([]string, []WaveState, error)
	// Counts returns a campaign's devices counted by wave, organisation,
	// site, state, reason and acceptance, kept exact by the store in the
	// transactions that move devices.
	Counts(ctx context.Context, name string) ([]Count, error)
	// Deferred returns a campaign's deferred devices in dispatch order.
	Deferred(ctx context.Context, name string) ([]DeviceRecord, error)
	// Pending returns up to limit pending devices of a wave in org whose
	// dispatch order is after after, in dispatch order, from an index.
	Pending(ctx context.Context, name string, wave int, org string, after, limit int) ([]Member, error)
	// PendingHeads returns the first limit pending devices of a wave in
	// each of orgs, in dispatch order, one list per organisation in orgs'
	// order, in as few reads as the store can.
	PendingHeads(ctx context.Context, name string, wave int, orgs []string, limit int) ([][]Member, error)
}

// Store is the campaign store as the scheduler consumes it: reading views,
// applying plans, and recording a device's run. Every change of a device's
// state follows Transitions, guarded by the state it expects.
type Store interface {
	Reader
	// Device returns one member of a campaign, or an error wrapping
	// errkind.NotFound.
	Device(ctx context.Context, name, hostname string) (DeviceRecord, error)
	// Due lists the live campaigns the controller should decide for now:
	// changed since it last did, whose wake-up time has come, or with a
	// device whose worker went silent (its lease expired before wall).
	Due(ctx context.Context, now, wall time.Time) ([]string, error)
	// Apply records a plan decided on the campaign as it was at seq and
	// dispatches its devices (EventDispatch), calling enqueue with those
	// that took inside the same transaction.
	Apply(ctx context.Context, name string, seq int64, p Plan, now time.Time, cause string, enqueue Enqueue) ([]Dispatch, error)
	// Orphans re-queues running devices whose lease lapsed before wall
	// (EventOrphaned), enqueuing their jobs in the same transaction.
	Orphans(ctx context.Context, name string, wall time.Time, enqueue Enqueue) ([]Dispatch, error)
	// Redispatch gives a queued device of generation gen a new generation
	// and job (EventRedispatch); false when it has moved on.
	Redispatch(ctx context.Context, name, host string, gen int, cause string, enqueue Enqueue) (bool, error)
	// Begin marks a device running for the job of generation gen
	// (EventBegin): ErrStale when the job is superseded, ErrState when
	// another worker holds a live lease.
	Begin(ctx context.Context, name, host string, gen int, wall time.Time, lease time.Duration) (Run, error)
	// Heartbeat extends a running device's lease and records its step and
	// checkpoint (nil keeps the stored one); ErrStale when superseded.
	Heartbeat(ctx context.Context, name, host string, gen int, until time.Time, step string, checkpoint []byte) error
	// Finish records how a run ended (EventFinish); ErrStale when
	// superseded.
	Finish(ctx context.Context, name, host string, gen int, to DeviceState, reason Reason, message string, next time.Time) error
}
