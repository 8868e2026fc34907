// Package sqlite stores campaigns, their waves, their devices' states and
// every transition in the same SQLite database as the inventory, with its
// own schema version (orchestrator_migrations). Every change of state is
// guarded by the state it expects, so a stale or duplicate worker, or two
// controllers, cannot move a device twice.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/internal/sqlmigrate"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Errors.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
	// ErrState is a change the current state does not allow.
	ErrState = errors.New("not allowed in the current state")
	// ErrStale is a job for a dispatch that has since been superseded.
	ErrStale = errors.New("stale dispatch")
)

// Store is the campaign store.
type Store struct {
	db  *sql.DB
	now func() time.Time
}

// Open migrates the campaign tables in db (shared with the inventory) and
// returns the store. now is the clock (default time.Now).
func Open(ctx context.Context, db *sql.DB, now func() time.Time) (*Store, error) {
	if now == nil {
		now = time.Now
	}
	if _, err := sqlmigrate.LoadAndApply(ctx, db, migrationFS, "migrations", "orchestrator_migrations", now().UTC().Format(time.RFC3339)); err != nil {
		return nil, fmt.Errorf("campaign store: %w", err)
	}
	return &Store{db: db, now: now}, nil
}

// Now is the time by the store's clock.
func (s *Store) Now() time.Time { return s.now() }

// newRunID names a device's run: short (it goes into scheduled task names
// on the device) and unique per campaign, device and start.
func newRunID(campaign, host string, at time.Time) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", campaign, host, at.UnixNano())
	return fmt.Sprintf("c%015x", h.Sum64()>>4)
}

func micros(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromMicros(v sql.NullInt64) time.Time {
	if !v.Valid {
		return time.Time{}
	}
	return time.UnixMicro(v.Int64).UTC()
}

// Campaign is a stored campaign.
type Campaign struct {
	Name         string
	SpecFile     string
	Spec         string // the campaign YAML as created
	PlaybookFile string
	Playbook     string // the playbook YAML as it was at creation
	Status       orchestrator.Status
	WakeAt       time.Time
	// Seq counts the changes that call for a decision; Apply takes the Seq
	// its view was read at.
	Seq       int64
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Create stores a campaign, its waves and its members in one transaction.
func (s *Store) Create(ctx context.Context, c Campaign, waves []string, members []orchestrator.Member) error {
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO campaigns (name, spec_file, spec, playbook_file, playbook, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`, c.Name, c.SpecFile, c.Spec, c.PlaybookFile, c.Playbook, orchestrator.StatusDraft, micros(now), micros(now))
		if err != nil {
			if strings.Contains(err.Error(), "UNIQUE") {
				return fmt.Errorf("campaign %s: %w", c.Name, ErrExists)
			}
			return fmt.Errorf("create campaign %s: %w", c.Name, err)
		}
		for i, w := range waves {
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_waves (campaign, idx, name, status) VALUES (?, ?, ?, ?)`,
				c.Name, i, w, orchestrator.WavePending); err != nil {
				return fmt.Errorf("create campaign %s wave %s: %w", c.Name, w, err)
			}
		}
		stmt, err := tx.PrepareContext(ctx, `INSERT INTO campaign_devices (campaign, hostname, org, site, wave, ord, state, changed_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for _, m := range members {
			if _, err := stmt.ExecContext(ctx, c.Name, m.Hostname, m.Org, m.Site, m.Wave, m.Order, orchestrator.DevicePending, micros(now)); err != nil {
				return fmt.Errorf("create campaign %s device %s: %w", c.Name, m.Hostname, err)
			}
		}
		return nil
	})
}

func (s *Store) tx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := f(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return sqltx.Commit(ctx, tx)
}

const campaignCols = `name, spec_file, spec, playbook_file, playbook, status, wake_at, seq, created_at, updated_at`

func scanCampaign(row interface{ Scan(...any) error }) (Campaign, error) {
	var c Campaign
	var wake, created, updated sql.NullInt64
	err := row.Scan(&c.Name, &c.SpecFile, &c.Spec, &c.PlaybookFile, &c.Playbook, &c.Status, &wake, &c.Seq, &created, &updated)
	c.WakeAt, c.CreatedAt, c.UpdatedAt = fromMicros(wake), fromMicros(created), fromMicros(updated)
	return c, err
}

// Campaign returns one campaign.
func (s *Store) Campaign(ctx context.Context, name string) (Campaign, error) {
	c, err := scanCampaign(s.db.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("campaign %s: %w", name, ErrNotFound)
	}
	return c, err
}

// Campaigns lists the campaigns, oldest first.
func (s *Store) Campaigns(ctx context.Context) ([]Campaign, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY created_at, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// SetStatus moves a campaign to status to from one of from, and marks it
// for the controller.
func (s *Store) SetStatus(ctx context.Context, name string, to orchestrator.Status, from ...orchestrator.Status) error {
	c, err := s.Campaign(ctx, name)
	if err != nil {
		return err
	}
	ok := false
	for _, f := range from {
		ok = ok || c.Status == f
	}
	if !ok {
		return fmt.Errorf("campaign %s is %s: %w", name, c.Status, ErrState)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE campaigns SET status = ?, dirty = 1, seq = seq + 1, updated_at = ? WHERE name = ? AND status = ?`,
		to, micros(s.now()), name, c.Status)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("campaign %s changed meanwhile: %w", name, ErrState)
	}
	return nil
}

// Approve gives a wave its manual approval.
func (s *Store) Approve(ctx context.Context, name, wave string) error {
	res, err := s.db.ExecContext(ctx, `UPDATE campaign_waves SET approved = 1 WHERE campaign = ? AND name = ?`, name, wave)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		if _, err := s.Campaign(ctx, name); err != nil {
			return err
		}
		return fmt.Errorf("campaign %s has no wave %s: %w", name, wave, ErrNotFound)
	}
	return s.markDirty(ctx, s.db, name)
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

func (s *Store) markDirty(ctx context.Context, db execer, name string) error {
	_, err := db.ExecContext(ctx, `UPDATE campaigns SET dirty = 1, seq = seq + 1, updated_at = ? WHERE name = ?`, micros(s.now()), name)
	return err
}

// Waves returns a campaign's waves' names and states, in order.
func (s *Store) Waves(ctx context.Context, name string) ([]string, []orchestrator.WaveState, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, status, started_at, completed_at, approved, reason
		FROM campaign_waves WHERE campaign = ? ORDER BY idx`, name)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	var names []string
	var states []orchestrator.WaveState
	for rows.Next() {
		var n string
		var w orchestrator.WaveState
		var started, completed sql.NullInt64
		if err := rows.Scan(&n, &w.Status, &started, &completed, &w.Approved, &w.Reason); err != nil {
			return nil, nil, err
		}
		w.Started, w.Completed = fromMicros(started), fromMicros(completed)
		names, states = append(names, n), append(states, w)
	}
	return names, states, rows.Err()
}

// StateCount is how many devices of a campaign's wave are in one state.
type StateCount struct {
	Wave    int
	State   orchestrator.DeviceState
	Devices int
}

// StateCounts counts a campaign's devices per wave and state, in the
// database (a campaign may hold a million devices).
func (s *Store) StateCounts(ctx context.Context, name string) ([]StateCount, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT wave, state, count(*) FROM campaign_devices WHERE campaign = ? GROUP BY wave, state ORDER BY wave, state`, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: count states: %w", name, err)
	}
	defer rows.Close()
	var out []StateCount
	for rows.Next() {
		var c StateCount
		if err := rows.Scan(&c.Wave, &c.State, &c.Devices); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// DeviceRecord is a campaign member with what the store keeps of its run.
type DeviceRecord struct {
	orchestrator.Member
	Message    string
	Step       string
	Generation int
	LeaseUntil time.Time
	Checkpoint []byte
}

// Members returns a campaign's devices in dispatch order.
func (s *Store) Members(ctx context.Context, name string) ([]DeviceRecord, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT hostname, org, site, wave, ord, state, reason, message, step, attempts,
		generation, next_attempt_at, lease_until, changed_at, checkpoint FROM campaign_devices WHERE campaign = ? ORDER BY ord`, name)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []DeviceRecord
	for rows.Next() {
		d, err := scanDevice(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

func scanDevice(row interface{ Scan(...any) error }) (DeviceRecord, error) {
	var d DeviceRecord
	var next, lease, changed sql.NullInt64
	var cp sql.NullString
	err := row.Scan(&d.Hostname, &d.Org, &d.Site, &d.Wave, &d.Order, &d.State, &d.Reason, &d.Message, &d.Step, &d.Attempts,
		&d.Generation, &next, &lease, &changed, &cp)
	d.NextAttempt, d.LeaseUntil, d.Changed = fromMicros(next), fromMicros(lease), fromMicros(changed)
	if cp.Valid {
		d.Checkpoint = []byte(cp.String)
	}
	return d, err
}

// Device returns one member of a campaign.
func (s *Store) Device(ctx context.Context, name, hostname string) (DeviceRecord, error) {
	d, err := scanDevice(s.db.QueryRowContext(ctx, `SELECT hostname, org, site, wave, ord, state, reason, message, step, attempts,
		generation, next_attempt_at, lease_until, changed_at, checkpoint FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, hostname))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("campaign %s device %s: %w", name, hostname, ErrNotFound)
	}
	return d, err
}

// Due lists the running campaigns the controller should decide for now:
// those changed since it last did, whose wake-up time has come, or with a
// device whose worker went silent (its lease expired before wall, the
// wall-clock time).
func (s *Store) Due(ctx context.Context, now, wall time.Time) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name FROM campaigns c WHERE status IN (?, ?)
		AND (dirty = 1 OR (wake_at IS NOT NULL AND wake_at <= ?) OR EXISTS (SELECT 1 FROM campaign_devices d
			WHERE d.campaign = c.name AND d.state = ? AND d.lease_until < ?)) ORDER BY created_at`,
		orchestrator.StatusRunning, orchestrator.StatusPaused, micros(now), orchestrator.DeviceRunning, micros(wall))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, rows.Err()
}

// Dispatch is a device queued to run, with the generation its job carries.
type Dispatch struct {
	Campaign   string
	Hostname   string
	Generation int
}

// Apply records a plan decided on the campaign as it was at seq: wave
// changes, the devices it dispatches (moved to queued only from pending or
// deferred, so a device is never queued twice), the wake-up time, and done.
// If anything changed since seq, the campaign stays marked for another
// decision. enqueue runs in the same transaction with the dispatches that
// took, to insert their jobs: both commit or neither.
func (s *Store) Apply(ctx context.Context, name string, seq int64, p orchestrator.Plan, now time.Time, cause string,
	enqueue func(tx *sql.Tx, ds []Dispatch) error) ([]Dispatch, error) {
	var out []Dispatch
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, c := range p.WaveChanges {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, started_at = ?, completed_at = ?, approved = ?, reason = ?
				WHERE campaign = ? AND idx = ?`, c.State.Status, micros(c.State.Started), micros(c.State.Completed), c.State.Approved,
				c.State.Reason, name, c.Wave); err != nil {
				return fmt.Errorf("campaign %s wave %d: %w", name, c.Wave, err)
			}
		}
		for _, h := range p.Dispatch {
			d, ok, err := s.move(ctx, tx, name, h, now, cause, []orchestrator.DeviceState{orchestrator.DevicePending, orchestrator.DeviceDeferred},
				orchestrator.DeviceQueued, "", true)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, d)
			}
		}
		status := orchestrator.StatusRunning
		if p.Done {
			status = orchestrator.StatusDone
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET wake_at = ?, dirty = CASE WHEN seq = ? THEN 0 ELSE 1 END, updated_at = ?,
			status = CASE WHEN status = ? AND seq = ? THEN ? ELSE status END WHERE name = ?`,
			micros(p.WakeAt), seq, micros(now), orchestrator.StatusRunning, seq, status, name); err != nil {
			return err
		}
		if len(out) > 0 && enqueue != nil {
			return enqueue(tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// move changes a device's state if it is in one of from, records the
// transition, and (for a dispatch) starts a new generation.
func (s *Store) move(ctx context.Context, tx *sql.Tx, name, host string, now time.Time, cause string,
	from []orchestrator.DeviceState, to orchestrator.DeviceState, reason string, dispatch bool) (Dispatch, bool, error) {
	var cur orchestrator.DeviceState
	var gen int
	err := tx.QueryRowContext(ctx, `SELECT state, generation FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, host).Scan(&cur, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return Dispatch{}, false, fmt.Errorf("campaign %s device %s: %w", name, host, ErrNotFound)
	}
	if err != nil {
		return Dispatch{}, false, err
	}
	allowed := false
	for _, f := range from {
		allowed = allowed || cur == f
	}
	if !allowed {
		return Dispatch{}, false, nil
	}
	if dispatch {
		gen++
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = ?, generation = ?, changed_at = ?, lease_until = NULL
		WHERE campaign = ? AND hostname = ?`, to, reason, gen, micros(now), name, host); err != nil {
		return Dispatch{}, false, err
	}
	if err := s.transition(ctx, tx, name, host, cur, to, reason, cause, now); err != nil {
		return Dispatch{}, false, err
	}
	return Dispatch{Campaign: name, Hostname: host, Generation: gen}, true, nil
}

func (s *Store) transition(ctx context.Context, tx *sql.Tx, name, host string, from, to orchestrator.DeviceState, reason, cause string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, name, host, from, to, reason, cause, micros(at))
	return err
}

// Run is what a worker needs to run a device: its attempt, the run's id on
// the device (the same across resumes) and where the last run stopped.
type Run struct {
	Attempt    int
	RunID      string
	Checkpoint []byte
}

// Begin marks a queued device running for the job of generation gen, or
// lets the same generation take it over again after its worker was lost
// (its lease expired). It returns ErrStale when the job is not the device's
// current dispatch, and ErrState when another worker holds it. Leases are
// wall-clock time (wall is now on the wall), whatever the store's clock:
// they measure whether a worker process is alive.
func (s *Store) Begin(ctx context.Context, name, host string, gen int, wall time.Time, lease time.Duration) (Run, error) {
	now := s.now()
	var run Run
	err := s.tx(ctx, func(tx *sql.Tx) error {
		d, err := scanDevice(tx.QueryRowContext(ctx, `SELECT hostname, org, site, wave, ord, state, reason, message, step, attempts,
			generation, next_attempt_at, lease_until, changed_at, checkpoint FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, host))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, ErrNotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case d.Generation != gen:
			return fmt.Errorf("campaign %s device %s: job generation %d, current %d: %w", name, host, gen, d.Generation, ErrStale)
		case d.State == orchestrator.DeviceRunning && d.LeaseUntil.After(wall):
			return fmt.Errorf("campaign %s device %s: running elsewhere until %s: %w", name, host, d.LeaseUntil.Format(time.RFC3339), ErrState)
		case d.State != orchestrator.DeviceQueued && d.State != orchestrator.DeviceRunning:
			return fmt.Errorf("campaign %s device %s is %s: %w", name, host, d.State, ErrStale)
		}
		cause := "worker"
		if d.State == orchestrator.DeviceRunning {
			cause = "worker: resuming after its previous worker was lost"
		}
		if err := tx.QueryRowContext(ctx, `SELECT run_id FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, host).Scan(&run.RunID); err != nil {
			return err
		}
		if run.RunID == "" {
			run.RunID = newRunID(name, host, now)
		}
		run.Attempt, run.Checkpoint = d.Attempts+1, d.Checkpoint
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, attempts = attempts + 1, lease_until = ?, changed_at = ?, run_id = ?
			WHERE campaign = ? AND hostname = ?`, orchestrator.DeviceRunning, micros(wall.Add(lease)), micros(now), run.RunID, name, host); err != nil {
			return err
		}
		return s.transition(ctx, tx, name, host, d.State, orchestrator.DeviceRunning, "", cause, now)
	})
	return run, err
}

// Heartbeat extends a running device's lease to until (wall-clock time) and
// records its current step and checkpoint (nil keeps the stored one).
func (s *Store) Heartbeat(ctx context.Context, name, host string, gen int, until time.Time, step string, checkpoint []byte) error {
	q := `UPDATE campaign_devices SET lease_until = ?, step = ? WHERE campaign = ? AND hostname = ? AND generation = ? AND state = ?`
	args := []any{micros(until), step, name, host, gen, orchestrator.DeviceRunning}
	if checkpoint != nil {
		q = `UPDATE campaign_devices SET lease_until = ?, step = ?, checkpoint = ? WHERE campaign = ? AND hostname = ? AND generation = ? AND state = ?`
		args = []any{micros(until), step, string(checkpoint), name, host, gen, orchestrator.DeviceRunning}
	}
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("campaign %s device %s generation %d: %w", name, host, gen, ErrStale)
	}
	return nil
}

// Finish records how a device's run ended: a final state, or deferred with
// the time of its next attempt. The checkpoint is kept for a deferred
// device (it resumes there) and cleared otherwise.
func (s *Store) Finish(ctx context.Context, name, host string, gen int, to orchestrator.DeviceState, reason, message string, next time.Time) error {
	now := s.now()
	return s.tx(ctx, func(tx *sql.Tx) error {
		var cur orchestrator.DeviceState
		var curGen int
		if err := tx.QueryRowContext(ctx, `SELECT state, generation FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, host).Scan(&cur, &curGen); err != nil {
			return fmt.Errorf("campaign %s device %s: %w", name, host, err)
		}
		if curGen != gen || cur != orchestrator.DeviceRunning {
			return fmt.Errorf("campaign %s device %s is %s (generation %d, job %d): %w", name, host, cur, curGen, gen, ErrStale)
		}
		checkpoint := "checkpoint"
		if to != orchestrator.DeviceDeferred {
			checkpoint = "NULL"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = ?, message = ?, next_attempt_at = ?, lease_until = NULL,
			step = '', changed_at = ?, checkpoint = `+checkpoint+` WHERE campaign = ? AND hostname = ?`,
			to, reason, message, micros(next), micros(now), name, host); err != nil {
			return err
		}
		if err := s.transition(ctx, tx, name, host, cur, to, reason, "worker", now); err != nil {
			return err
		}
		return s.markDirty(ctx, tx, name)
	})
}

// Orphans moves running devices whose worker went silent (lease expired by
// wall, the wall-clock time) back to queued under a new generation, keeping
// their checkpoint, and enqueues their jobs in the same transaction.
func (s *Store) Orphans(ctx context.Context, name string, wall time.Time, enqueue func(tx *sql.Tx, ds []Dispatch) error) ([]Dispatch, error) {
	now := s.now()
	var out []Dispatch
	err := s.tx(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT hostname FROM campaign_devices WHERE campaign = ? AND state = ? AND lease_until < ?`,
			name, orchestrator.DeviceRunning, micros(wall))
		if err != nil {
			return err
		}
		var hosts []string
		for rows.Next() {
			var h string
			if err := rows.Scan(&h); err != nil {
				rows.Close()
				return err
			}
			hosts = append(hosts, h)
		}
		rows.Close()
		for _, h := range hosts {
			d, ok, err := s.move(ctx, tx, name, h, now, "controller: its worker went silent; resuming from the last checkpoint",
				[]orchestrator.DeviceState{orchestrator.DeviceRunning}, orchestrator.DeviceQueued, "", true)
			if err != nil {
				return err
			}
			if ok {
				out = append(out, d)
			}
		}
		if len(out) > 0 && enqueue != nil {
			return enqueue(tx, out)
		}
		return nil
	})
	return out, err
}

// Redispatch gives a queued device of generation gen a new generation and
// enqueues its job in the same transaction: its job of generation gen was
// taken by a worker that died before it began (River still holds that job
// as running and would never hand it out again). It reports false when the
// device has moved on (another generation or state): then nothing changes.
func (s *Store) Redispatch(ctx context.Context, name, host string, gen int, cause string, enqueue func(tx *sql.Tx, ds []Dispatch) error) (bool, error) {
	now := s.now()
	var moved bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var cur orchestrator.DeviceState
		var curGen int
		err := tx.QueryRowContext(ctx, `SELECT state, generation FROM campaign_devices WHERE campaign = ? AND hostname = ?`, name, host).Scan(&cur, &curGen)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, ErrNotFound)
		}
		if err != nil {
			return err
		}
		if cur != orchestrator.DeviceQueued || curGen != gen {
			return nil
		}
		d, ok, err := s.move(ctx, tx, name, host, now, cause, []orchestrator.DeviceState{orchestrator.DeviceQueued}, orchestrator.DeviceQueued, "", true)
		if err != nil || !ok {
			return err
		}
		moved = true
		if enqueue != nil {
			return enqueue(tx, []Dispatch{d})
		}
		return nil
	})
	return moved, err
}

// Retry makes failed devices (with reason, if not "") pending again, to
// start afresh, and returns how many. A halted wave they belong to becomes
// active again so that the controller dispatches them.
func (s *Store) Retry(ctx context.Context, name, reason string) (int, error) {
	now := s.now()
	n := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT hostname, wave FROM campaign_devices WHERE campaign = ? AND state = ?`
		args := []any{name, orchestrator.DeviceFailed}
		if reason != "" {
			q += ` AND reason = ?`
			args = append(args, reason)
		}
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return err
		}
		type hw struct {
			host string
			wave int
		}
		var list []hw
		for rows.Next() {
			var x hw
			if err := rows.Scan(&x.host, &x.wave); err != nil {
				rows.Close()
				return err
			}
			list = append(list, x)
		}
		rows.Close()
		for _, x := range list {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = '', message = '', checkpoint = NULL, run_id = '', changed_at = ?
				WHERE campaign = ? AND hostname = ?`, orchestrator.DevicePending, micros(now), name, x.host); err != nil {
				return err
			}
			if err := s.transition(ctx, tx, name, x.host, orchestrator.DeviceFailed, orchestrator.DevicePending, "", "retry command", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, reason = '', completed_at = NULL
				WHERE campaign = ? AND idx = ? AND status IN (?, ?)`, orchestrator.WaveActive, name, x.wave, orchestrator.WaveHalted, orchestrator.WaveDone); err != nil {
				return err
			}
			n++
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = ? WHERE name = ? AND status = ?`,
				orchestrator.StatusRunning, name, orchestrator.StatusDone); err != nil {
				return err
			}
		}
		return s.markDirty(ctx, tx, name)
	})
	return n, err
}

// Transitions returns a device's recorded transitions, oldest first (all
// devices' when hostname is "").
func (s *Store) Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error) {
	q := `SELECT hostname, from_state, to_state, reason, cause, at FROM campaign_transitions WHERE campaign = ?`
	args := []any{name}
	if hostname != "" {
		q += ` AND hostname = ?`
		args = append(args, hostname)
	}
	rows, err := s.db.QueryContext(ctx, q+` ORDER BY id`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []orchestrator.Transition
	for rows.Next() {
		t := orchestrator.Transition{Campaign: name}
		var at sql.NullInt64
		if err := rows.Scan(&t.Hostname, &t.From, &t.To, &t.Reason, &t.Cause, &at); err != nil {
			return nil, err
		}
		t.At = fromMicros(at)
		out = append(out, t)
	}
	return out, rows.Err()
}
