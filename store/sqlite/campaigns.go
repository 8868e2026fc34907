package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"modernc.org/sqlite"
)

// Campaigns stores campaigns, their waves, their devices' states and every
// transition, with its own schema version (orchestrator_migrations).
// Every change of state is guarded by the state it expects, as
// orchestrator's state machine allows, so a stale or duplicate worker, or
// two controllers, cannot move a device twice. It implements
// orchestrator.Store (what the scheduler consumes) and what the campaigns
// application and reports read besides; its errors wrap errkind.NotFound,
// errkind.Exists, orchestrator.ErrState and orchestrator.ErrStale.
type Campaigns struct {
	db       *sql.DB
	rdb      *sql.DB // read-only connections, for what only reads
	now      func() time.Time
	cacheKiB int // the connections' page cache
	log      *slog.Logger
	stmts    sync.Map    // SQL text -> *sql.Stmt on db (see prepared)
	group    *writeGroup // shared with the inventory's observations
	wanted   sync.Map    // SQL text -> true: to prepare on db (see warm)
}

var _ orchestrator.Store = (*Campaigns)(nil)

// Now is the time by the store's clock.
func (s *Campaigns) Now() time.Time { return s.now() }

// prepared is q prepared once on the writer, and in tx when tx is not
// nil. The workers run the same few statements thousands of times a
// second, and SQLite parsing one costs about what running it does. The
// writer is one connection, which a transaction holds: a statement first
// met inside one is prepared on the transaction that time, and on the
// writer by warm once the transaction is over.
func (s *Campaigns) prepared(ctx context.Context, tx *sql.Tx, q string) (*sql.Stmt, error) {
	if st, ok := s.stmts.Load(q); ok {
		if tx != nil {
			return tx.StmtContext(ctx, st.(*sql.Stmt)), nil
		}
		return st.(*sql.Stmt), nil
	}
	if tx != nil {
		s.wanted.Store(q, true)
		return tx.PrepareContext(ctx, q)
	}
	p, err := s.db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if st, loaded := s.stmts.LoadOrStore(q, p); loaded {
		p.Close()
		return st.(*sql.Stmt), nil
	}
	return p, nil
}

// warm prepares on the writer the statements first met inside a
// transaction (see prepared); call it outside one.
func (s *Campaigns) warm(ctx context.Context) {
	s.wanted.Range(func(q, _ any) bool {
		s.wanted.Delete(q)
		_, _ = s.prepared(ctx, nil, q.(string)) // a failure only leaves it unprepared
		return true
	})
}

// exec runs q, prepared once (see prepared), in tx, or on the writer when
// tx is nil.
func (s *Campaigns) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	st, err := s.prepared(ctx, tx, q)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

// hostRank is a campaign's device's rank (orchestrator.Rank), as its
// index by hostname stores it: (campaign, rank, hostname). A campaign's
// devices are written in dispatch order, wave by wave in rank order, so
// that index grows in a few sweeps rather than at random places, and a
// lookup by hostname computes the rank first (SQL can too, with
// campaign_rank, which the migration filling it in uses).
func hostRank(campaign, host string) int64 { return int64(orchestrator.Rank(campaign, host)) }

// newRunID names a device's run: short (it goes into scheduled task names
// on the device) and unique per campaign, device and start.
func newRunID(campaign, host string, at time.Time) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", campaign, host, at.UnixNano())
	return fmt.Sprintf("c%015x", h.Sum64()>>4)
}

// Create stores a campaign, its waves and its members in one
// transaction, reading members as it writes them: a national campaign is
// never held in memory. Members come in dispatch order, so the rows and
// the dispatch-order indexes grow at their ends; they go in createBatch
// rows per statement.
func (s *Campaigns) Create(ctx context.Context, c orchestrator.Campaign, waves []string, members iter.Seq[orchestrator.Member]) error {
	now := nullMicros(s.now())
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("create campaign %s: %w", c.Name, err)
	}
	defer conn.Close()
	if s.rdb != s.db {
		quiesceReaders(s.rdb)
	}
	if restore, ok := rollbackJournal(ctx, conn, s.log); ok {
		defer restore()
	}
	return withConnTx(ctx, conn, func(tx *sql.Tx) error {
		var num int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(num), 0) + 1 FROM campaigns`).Scan(&num); err != nil {
			return fmt.Errorf("create campaign %s: %w", c.Name, err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO campaigns (name, num, spec_file, spec, playbook_file, playbook, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, c.Name, num, c.SpecFile, c.Spec, c.PlaybookFile, c.Playbook, orchestrator.StatusDraft, now, now)
		if err != nil {
			if constraint(err) == errkind.Exists {
				return fmt.Errorf("campaign %s: %w", c.Name, errkind.Exists)
			}
			return fmt.Errorf("create campaign %s: %w", c.Name, err)
		}
		for i, w := range waves {
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_waves (campaign, idx, name, status) VALUES (?, ?, ?, ?)`,
				c.Name, i, w, orchestrator.WavePending); err != nil {
				return fmt.Errorf("create campaign %s wave %s: %w", c.Name, w, err)
			}
		}
		// Every B-tree the devices go into grows at its end or in a few
		// sweeps, so a small page cache holds what the writes touch; the
		// usual one would only grow the process by its size.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size=-%d`, createCacheKiB)); err != nil {
			return err
		}
		defer tx.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size=-%d`, s.cacheKiB))
		// The counts trigger would update a count for every device; the
		// counts of a new campaign are written once, after its devices,
		// with the trigger dropped meanwhile (inside this transaction, so
		// no other connection ever sees the schema without it).
		var trigger string
		if err := tx.QueryRowContext(ctx, `SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = 'campaign_counts_insert'`).Scan(&trigger); err != nil {
			return fmt.Errorf("create campaign %s: counts trigger: %w", c.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `DROP TRIGGER campaign_counts_insert`); err != nil {
			return err
		}
		type group struct {
			wave      int
			org, site string
		}
		counts := map[group]int{}
		const cols = 10
		insert := func(rows int) string {
			return `INSERT INTO campaign_devices (id, campaign, hostname, rank, org, site, wave, ord, state, changed_at) VALUES ` +
				strings.TrimSuffix(strings.Repeat(`(?, ?, ?, ?, ?, ?, ?, ?, ?, ?),`, rows), ",")
		}
		full, err := tx.PrepareContext(ctx, insert(createBatch))
		if err != nil {
			return err
		}
		defer full.Close()
		args := make([]any, 0, createBatch*cols)
		var first string // the batch's first hostname, to name in an error
		flush := func() error {
			if len(args) == 0 {
				return nil
			}
			var err error
			if len(args) == cap(args) {
				_, err = full.ExecContext(ctx, args...)
			} else {
				_, err = tx.ExecContext(ctx, insert(len(args)/cols), args...)
			}
			if err != nil {
				if constraint(err) == errkind.Exists {
					return fmt.Errorf("create campaign %s: a device is listed twice (in the batch from %s): %w", c.Name, first, errkind.Invalid)
				}
				return fmt.Errorf("create campaign %s: devices from %s: %w", c.Name, first, err)
			}
			args = args[:0]
			return nil
		}
		for m := range members {
			if len(args) == 0 {
				first = m.Hostname
			}
			if m.Order < 0 || m.Order >= 1<<32 {
				return fmt.Errorf("create campaign %s: device %s: dispatch order %d out of range: %w", c.Name, m.Hostname, m.Order, errkind.Invalid)
			}
			args = append(args, num<<32|int64(m.Order), c.Name, m.Hostname, hostRank(c.Name, m.Hostname), m.Org, m.Site, m.Wave, m.Order, orchestrator.DevicePending, now)
			counts[group{m.Wave, m.Org, m.Site}]++
			if len(args) == cap(args) {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := flush(); err != nil {
			return err
		}
		for g, n := range counts {
			if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_counts (campaign, wave, org, site, state, reason, accepted, devices)
				VALUES (?, ?, ?, ?, ?, '', 0, ?)`, c.Name, g.wave, g.org, g.site, orchestrator.DevicePending, n); err != nil {
				return fmt.Errorf("create campaign %s: counts: %w", c.Name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, trigger); err != nil {
			return fmt.Errorf("create campaign %s: counts trigger: %w", c.Name, err)
		}
		return nil
	})
}

// createBatch is how many devices one statement of Create inserts: few
// statements, and far under SQLite's limit of 32,766 parameters.
const createBatch = 256

// createCacheKiB is the page cache of the connection writing a new
// campaign's devices.
const createCacheKiB = 16 << 10

const campaignCols = `name, spec_file, spec, playbook_file, playbook, status, wake_at, seq, created_at, updated_at`

func scanCampaign(row interface{ Scan(...any) error }) (orchestrator.Campaign, error) {
	var c orchestrator.Campaign
	var wake, created, updated sql.NullInt64
	err := row.Scan(&c.Name, &c.SpecFile, &c.Spec, &c.PlaybookFile, &c.Playbook, &c.Status, &wake, &c.Seq, &created, &updated)
	c.WakeAt, c.CreatedAt, c.UpdatedAt = fromMicros(wake), fromMicros(created), fromMicros(updated)
	return c, err
}

// Campaign returns one campaign.
func (s *Campaigns) Campaign(ctx context.Context, name string) (orchestrator.Campaign, error) {
	return s.campaignIn(ctx, s.rdb, name)
}

// campaignIn reads one campaign through db (the store's, or a transaction).
func (s *Campaigns) campaignIn(ctx context.Context, db querier, name string) (orchestrator.Campaign, error) {
	c, err := scanCampaign(db.QueryRowContext(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return c, fmt.Errorf("campaign %s: %w", name, errkind.NotFound)
	}
	return c, err
}

// Campaigns lists the campaigns, oldest first.
func (s *Campaigns) Campaigns(ctx context.Context) ([]orchestrator.Campaign, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY created_at, name`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []orchestrator.Campaign
	for rows.Next() {
		c, err := scanCampaign(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Counts returns a campaign's devices counted by wave, organisation,
// site, state, reason and acceptance, from the counts the store's
// triggers keep (migration 0003): a few hundred rows for a national
// campaign.
func (s *Campaigns) Counts(ctx context.Context, name string) ([]orchestrator.Count, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT wave, org, site, state, reason, accepted, devices FROM campaign_counts
		WHERE campaign = ? AND devices > 0 ORDER BY wave, org, site, state, reason, accepted`, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: counts: %w", name, err)
	}
	defer rows.Close()
	var out []orchestrator.Count
	for rows.Next() {
		var c orchestrator.Count
		if err := rows.Scan(&c.Wave, &c.Org, &c.Site, &c.State, &c.Reason, &c.Accepted, &c.Devices); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Deferred returns a campaign's deferred devices in dispatch order.
func (s *Campaigns) Deferred(ctx context.Context, name string) ([]orchestrator.DeviceRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = ? AND state = ? ORDER BY ord`,
		name, orchestrator.DeviceDeferred)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: deferred devices: %w", name, err)
	}
	return scanMembers(rows)
}

// Pending returns up to limit pending devices of a campaign's wave in org
// whose dispatch order is after after, in dispatch order: one range of
// campaign_devices_group.
func (s *Campaigns) Pending(ctx context.Context, name string, wave int, org string, after, limit int) ([]orchestrator.Member, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT hostname, site, ord FROM campaign_devices
		WHERE campaign = ? AND state = ? AND wave = ? AND org = ? AND ord > ? ORDER BY ord LIMIT ?`,
		name, orchestrator.DevicePending, wave, org, after, limit)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: pending devices of %s: %w", name, org, err)
	}
	defer rows.Close()
	var out []orchestrator.Member
	for rows.Next() {
		m := orchestrator.Member{Org: org, Wave: wave, State: orchestrator.DevicePending}
		if err := rows.Scan(&m.Hostname, &m.Site, &m.Order); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

// PendingHeads returns the first limit pending devices of a campaign's
// wave in each of orgs, one list per organisation, in one statement (see
// headsQuery).
func (s *Campaigns) PendingHeads(ctx context.Context, name string, wave int, orgs []string, limit int) ([][]orchestrator.Member, error) {
	distinct := slices.Compact(slices.Sorted(slices.Values(orgs)))
	list, err := json.Marshal(distinct)
	if err != nil {
		return nil, err
	}
	rows, err := s.rdb.QueryContext(ctx, headsQuery, string(list), name, orchestrator.DevicePending, wave, limit)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: pending devices: %w", name, err)
	}
	defer rows.Close()
	by := make(map[string][]orchestrator.Member, len(distinct))
	for rows.Next() {
		m := orchestrator.Member{Wave: wave, State: orchestrator.DevicePending}
		if err := rows.Scan(&m.Org, &m.Hostname, &m.Site, &m.Order); err != nil {
			return nil, err
		}
		by[m.Org] = append(by[m.Org], m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("campaign %s: pending devices: %w", name, err)
	}
	out := make([][]orchestrator.Member, len(orgs))
	for i, org := range orgs {
		ms := slices.Clone(by[org])
		// The statement returns each organisation's devices by id.
		slices.SortFunc(ms, func(a, b orchestrator.Member) int { return a.Order - b.Order })
		out[i] = ms
	}
	return out, nil
}

// headsQuery reads the first few pending devices of each organisation in
// a JSON list: for each, a range of campaign_devices_group (a correlated
// subquery, which may carry a LIMIT where a join cannot), then each device
// by id. One text whatever the organisations, so it is prepared once.
const headsQuery = `SELECT d.org, d.hostname, d.site, d.ord FROM json_each(?) o
	JOIN campaign_devices d ON d.id IN (SELECT id FROM campaign_devices
		WHERE campaign = ? AND state = ? AND wave = ? AND org = o.value ORDER BY ord LIMIT ?)`

// ChangeStatus applies a person's action (start, pause, resume, cancel) to
// a campaign as the status machine allows (orchestrator.StatusChanges),
// marks it for the controller, and returns its new status. A status the
// action does not start from is an error wrapping orchestrator.ErrState.
func (s *Campaigns) ChangeStatus(ctx context.Context, name string, a orchestrator.Action) (orchestrator.Status, error) {
	change, ok := orchestrator.ChangeFor(a)
	if !ok {
		return "", fmt.Errorf("campaign %s: unknown action %q: %w", name, a, orchestrator.ErrState)
	}
	c, err := s.Campaign(ctx, name)
	if err != nil {
		return "", err
	}
	if !change.Allows(c.Status) {
		return "", fmt.Errorf("campaign %s is %s: %w", name, c.Status, orchestrator.ErrState)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE campaigns SET status = ?, dirty = 1, seq = seq + 1, updated_at = ? WHERE name = ? AND status = ?`,
		change.To, nullMicros(s.now()), name, c.Status)
	if err != nil {
		return "", fmt.Errorf("campaign %s: %s: %w", name, a, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return "", fmt.Errorf("campaign %s changed meanwhile: %w", name, orchestrator.ErrState)
	}
	return change.To, nil
}

// Approve gives a wave its manual approval and records ev, the person's
// decision.
func (s *Campaigns) Approve(ctx context.Context, name, wave string, ev orchestrator.Event) error {
	return withTx(ctx, s.db, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET approved = 1 WHERE campaign = ? AND name = ?`, name, wave)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if _, err := s.campaignIn(ctx, tx, name); err != nil {
				return err
			}
			return fmt.Errorf("campaign %s has no wave %s: %w", name, wave, errkind.NotFound)
		}
		if err := s.record(ctx, tx, name, ev); err != nil {
			return err
		}
		return s.markDirty(ctx, tx, name)
	})
}

func (s *Campaigns) markDirty(ctx context.Context, db execer, name string) error {
	const q = `UPDATE campaigns SET dirty = 1, seq = seq + 1, updated_at = ? WHERE name = ?`
	if tx, ok := db.(*sql.Tx); ok {
		_, err := s.exec(ctx, tx, q, nullMicros(s.now()), name)
		return err
	}
	_, err := db.ExecContext(ctx, q, nullMicros(s.now()), name)
	return err
}

// Waves returns a campaign's waves' names and states, in order.
func (s *Campaigns) Waves(ctx context.Context, name string) ([]string, []orchestrator.WaveState, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT name, status, started_at, completed_at, approved, reason
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

// StateCounts counts a campaign's devices per wave and state, from the
// counts the triggers keep.
func (s *Campaigns) StateCounts(ctx context.Context, name string) ([]orchestrator.StateCount, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT wave, state, sum(devices) FROM campaign_counts WHERE campaign = ?
		GROUP BY wave, state HAVING sum(devices) > 0 ORDER BY wave, state`, name)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: count states: %w", name, err)
	}
	defer rows.Close()
	var out []orchestrator.StateCount
	for rows.Next() {
		var c orchestrator.StateCount
		if err := rows.Scan(&c.Wave, &c.State, &c.Devices); err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// Members returns a campaign's devices in dispatch order.
func (s *Campaigns) Members(ctx context.Context, name string) ([]orchestrator.DeviceRecord, error) {
	rows, err := s.rdb.QueryContext(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE `+idAfter+` ORDER BY id`, name, -1, name)
	if err != nil {
		return nil, err
	}
	return scanMembers(rows)
}

// scanMembers reads every row of rows (memberCols) and closes them.
func scanMembers(rows *sql.Rows) ([]orchestrator.DeviceRecord, error) {
	defer rows.Close()
	var out []orchestrator.DeviceRecord
	for rows.Next() {
		d, err := scanMember(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, rows.Err()
}

// memberCols are the columns scanMember reads.
const memberCols = `hostname, org, site, wave, ord, state, reason, message, step, attempts,
	generation, next_attempt_at, lease_until, changed_at, checkpoint, accepted`

func scanMember(row interface{ Scan(...any) error }) (orchestrator.DeviceRecord, error) {
	var d orchestrator.DeviceRecord
	err := scanMemberInto(row, &d)
	return d, err
}

// scanMemberInto reads memberCols into d, and the columns after them into
// more.
func scanMemberInto(row interface{ Scan(...any) error }, d *orchestrator.DeviceRecord, more ...any) error {
	var next, lease, changed sql.NullInt64
	var cp sql.NullString
	err := row.Scan(append([]any{&d.Hostname, &d.Org, &d.Site, &d.Wave, &d.Order, &d.State, &d.Reason, &d.Message, &d.Step, &d.Attempts,
		&d.Generation, &next, &lease, &changed, &cp, &d.Accepted}, more...)...)
	d.NextAttempt, d.LeaseUntil, d.Changed = fromMicros(next), fromMicros(lease), fromMicros(changed)
	if cp.Valid {
		d.Checkpoint = []byte(cp.String)
	}
	return err
}

// Device returns one member of a campaign.
func (s *Campaigns) Device(ctx context.Context, name, hostname string) (orchestrator.DeviceRecord, error) {
	d, err := scanMember(s.db.QueryRowContext(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`, name, hostRank(name, hostname), hostname))
	if errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("campaign %s device %s: %w", name, hostname, errkind.NotFound)
	}
	return d, err
}

// Due lists the live campaigns the controller should decide for now:
// those changed since it last did, whose wake-up time has come, or with a
// device whose worker went silent (its lease expired before wall, the
// wall-clock time).
func (s *Campaigns) Due(ctx context.Context, now, wall time.Time) ([]string, error) {
	var live []orchestrator.Status
	for _, st := range orchestrator.Statuses {
		if st.Live() {
			live = append(live, st)
		}
	}
	rows, err := s.rdb.QueryContext(ctx, `SELECT name FROM campaigns c WHERE status IN (`+marks(len(live))+`)
		AND (dirty = 1 OR (wake_at IS NOT NULL AND wake_at <= ?) OR EXISTS (SELECT 1 FROM campaign_devices d
			WHERE d.campaign = c.name AND d.state = ? AND d.lease_until < ?)) ORDER BY created_at`,
		append(anys(live), nullMicros(now), orchestrator.DeviceRunning, nullMicros(wall))...)
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

// Apply records a plan decided on the campaign as it was at seq: wave
// changes, the devices it dispatches (moved to queued only from pending or
// deferred, so a device is never queued twice), the wake-up time, and done.
// If anything changed since seq, the campaign stays marked for another
// decision. enqueue runs in the same transaction with the dispatches that
// took, to insert their jobs: both commit or neither.
func (s *Campaigns) Apply(ctx context.Context, name string, seq int64, p orchestrator.Plan, now time.Time, cause string,
	enqueue orchestrator.Enqueue) ([]orchestrator.Dispatch, error) {
	var out []orchestrator.Dispatch
	// A control pass goes before the workers' next batch (see writeGroup).
	release := s.group.claim()
	defer release() // the first call releases
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		for _, c := range p.WaveChanges {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, started_at = ?, completed_at = ?, approved = ?, reason = ?
				WHERE campaign = ? AND idx = ?`, c.State.Status, nullMicros(c.State.Started), nullMicros(c.State.Completed), c.State.Approved,
				c.State.Reason, name, c.Wave); err != nil {
				return fmt.Errorf("campaign %s wave %d: %w", name, c.Wave, err)
			}
		}
		moved, err := s.moveMany(ctx, tx, name, p.Dispatch, now, cause, orchestrator.EventDispatch, orchestrator.DeviceQueued)
		if err != nil {
			return err
		}
		out = moved
		// A done plan completes the campaign (orchestrator.ActionComplete)
		// only if nothing changed since seq: a pause or retry meanwhile wins.
		status, args := `status`, []any{}
		if p.Done {
			complete, _ := orchestrator.ChangeFor(orchestrator.ActionComplete)
			status = `CASE WHEN seq = ? AND status IN (` + marks(len(complete.From)) + `) THEN ? ELSE status END`
			args = append(append([]any{seq}, anys(complete.From)...), complete.To)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET wake_at = ?, dirty = CASE WHEN seq = ? THEN 0 ELSE 1 END, updated_at = ?,
			status = `+status+` WHERE name = ?`,
			append(append([]any{nullMicros(p.WakeAt), seq, nullMicros(now)}, args...), name)...); err != nil {
			return fmt.Errorf("campaign %s: apply: %w", name, err)
		}
		if err := noCheckpoint(ctx, tx); err != nil {
			return err
		}
		if len(out) > 0 && enqueue != nil {
			return enqueue(ctx, tx, out)
		}
		return nil
	})
	release()
	if rerr := s.group.restoreCheckpoints(context.WithoutCancel(ctx)); rerr != nil {
		s.log.Warn("automatic WAL checkpoints not restored", "err", rerr)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// moveMany is move for many devices at once, in a few statements per
// moveBatch devices rather than three per device: one UPDATE per state
// e moves from, returning what it moved, and one INSERT of their
// transitions. It returns the devices moved, in hosts' order; those in a
// state e does not move from, or not in the campaign, are left as they
// are.
func (s *Campaigns) moveMany(ctx context.Context, tx *sql.Tx, name string, hosts []string, now time.Time, cause string,
	e orchestrator.DeviceEvent, to orchestrator.DeviceState) ([]orchestrator.Dispatch, error) {
	rule, ok := orchestrator.MoveFor(e)
	if !ok || !slices.Contains(rule.To, to) {
		return nil, fmt.Errorf("campaign %s: %s cannot move to %s: %w", name, e, to, orchestrator.ErrState)
	}
	gen := "generation"
	if rule.NewGeneration {
		gen = "generation + 1"
	}
	type movedDev struct {
		from orchestrator.DeviceState
		org  string
		gen  int
	}
	moved := map[string]movedDev{}
	for start := 0; start < len(hosts); start += moveBatch {
		part := hosts[start:min(start+moveBatch, len(hosts))]
		keys := make([]any, 0, 2*len(part))
		for _, h := range part {
			keys = append(keys, hostRank(name, h), h)
		}
		in := strings.TrimSuffix(strings.Repeat("(?, ?),", len(part)), ",")
		for _, from := range rule.From {
			rows, err := tx.QueryContext(ctx, `UPDATE campaign_devices SET state = ?, reason = '', generation = `+gen+`, changed_at = ?, lease_until = NULL
				WHERE campaign = ? AND +state = ? AND (rank, hostname) IN (VALUES `+in+`) RETURNING hostname, org, generation`,
				slices.Concat([]any{to, nullMicros(now), name, from}, keys)...)
			if err != nil {
				return nil, fmt.Errorf("campaign %s: %s: %w", name, e, err)
			}
			for rows.Next() {
				var h, org string
				var g int
				if err := rows.Scan(&h, &org, &g); err != nil {
					rows.Close()
					return nil, err
				}
				moved[h] = movedDev{from, org, g}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("campaign %s: %s: %w", name, e, err)
			}
		}
	}
	var out []orchestrator.Dispatch
	var trans []any
	for _, h := range hosts {
		m, ok := moved[h]
		if !ok {
			continue
		}
		delete(moved, h) // a host named twice moves once
		out = append(out, orchestrator.Dispatch{Campaign: name, Hostname: h, Org: m.org, Generation: m.gen})
		trans = append(trans, name, h, m.from, to, "", cause, nullMicros(now))
	}
	const cols = 7
	for start := 0; start < len(trans); start += moveBatch * cols {
		part := trans[start:min(start+moveBatch*cols, len(trans))]
		if _, err := tx.ExecContext(ctx, `INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at) VALUES `+
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?, ?),", len(part)/cols), ","), part...); err != nil {
			return nil, fmt.Errorf("campaign %s: %s: transitions: %w", name, e, err)
		}
	}
	return out, nil
}

// moveBatch is how many devices one statement of moveMany names. (Its
// UPDATE writes +state so that SQLite finds the devices by the hostname
// index, never by scanning every device in the state.)
const moveBatch = 200

// move changes a device's state to to by event e if the state machine
// allows it from its current state, records the transition, and starts a
// new generation when the event does. It reports false, changing nothing,
// when the device is in a state e does not move from.
func (s *Campaigns) move(ctx context.Context, tx *sql.Tx, name, host string, now time.Time, cause string,
	e orchestrator.DeviceEvent, to orchestrator.DeviceState) (orchestrator.Dispatch, bool, error) {
	rule, ok := orchestrator.MoveFor(e)
	if !ok || !slices.Contains(rule.To, to) {
		return orchestrator.Dispatch{}, false, fmt.Errorf("campaign %s device %s: %s cannot move to %s: %w", name, host, e, to, orchestrator.ErrState)
	}
	var cur orchestrator.DeviceState
	var org string
	var gen int
	err := tx.QueryRowContext(ctx, `SELECT state, org, generation FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`, name, hostRank(name, host), host).Scan(&cur, &org, &gen)
	if errors.Is(err, sql.ErrNoRows) {
		return orchestrator.Dispatch{}, false, fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
	}
	if err != nil {
		return orchestrator.Dispatch{}, false, err
	}
	if !slices.Contains(rule.From, cur) {
		return orchestrator.Dispatch{}, false, nil
	}
	if rule.NewGeneration {
		gen++
	}
	if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = '', generation = ?, changed_at = ?, lease_until = NULL
		WHERE campaign = ? AND rank = ? AND hostname = ?`, to, gen, nullMicros(now), name, hostRank(name, host), host); err != nil {
		return orchestrator.Dispatch{}, false, err
	}
	if err := s.transition(ctx, tx, name, host, cur, to, "", cause, now); err != nil {
		return orchestrator.Dispatch{}, false, err
	}
	return orchestrator.Dispatch{Campaign: name, Hostname: host, Org: org, Generation: gen}, true, nil
}

func (s *Campaigns) transition(ctx context.Context, tx *sql.Tx, name, host string, from, to orchestrator.DeviceState, reason orchestrator.Reason, cause string, at time.Time) error {
	_, err := s.exec(ctx, tx, `INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
		VALUES (?, ?, ?, ?, ?, ?, ?)`, name, host, from, to, reason, cause, nullMicros(at))
	return err
}

// Begin marks a queued device running for the job of generation gen, or
// lets the same generation take it over again after its worker was lost
// (its lease expired). It returns orchestrator.ErrStale when the job is not the device's
// current dispatch, and orchestrator.ErrState when another worker holds it. Leases are
// wall-clock time (wall is now on the wall), whatever the store's clock:
// they measure whether a worker process is alive.
func (s *Campaigns) Begin(ctx context.Context, name, host string, gen int, wall time.Time, lease time.Duration) (orchestrator.Run, error) {
	now := s.now()
	var run orchestrator.Run
	err := s.group.run(ctx, func(ctx context.Context, tx *sql.Tx) error {
		sel, err := s.prepared(ctx, tx, `SELECT `+memberCols+`, run_id FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`)
		if err != nil {
			return err
		}
		var d orchestrator.DeviceRecord
		err = scanMemberInto(sel.QueryRowContext(ctx, name, hostRank(name, host), host), &d, &run.RunID)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		if err != nil {
			return err
		}
		switch {
		case d.Generation != gen:
			return fmt.Errorf("campaign %s device %s: job generation %d, current %d: %w", name, host, gen, d.Generation, orchestrator.ErrStale)
		case d.State == orchestrator.DeviceRunning && d.LeaseUntil.After(wall):
			return fmt.Errorf("campaign %s device %s: running elsewhere until %s: %w", name, host, d.LeaseUntil.Format(time.RFC3339), orchestrator.ErrState)
		case !orchestrator.EventBegin.Allows(d.State, orchestrator.DeviceRunning):
			return fmt.Errorf("campaign %s device %s is %s: %w", name, host, d.State, orchestrator.ErrStale)
		}
		cause := "worker"
		if d.State == orchestrator.DeviceRunning {
			cause = "worker: resuming after its previous worker was lost"
		}
		if run.RunID == "" {
			run.RunID = newRunID(name, host, now)
		}
		run.Attempt, run.Checkpoint = d.Attempts+1, d.Checkpoint
		if _, err := s.exec(ctx, tx, `UPDATE campaign_devices SET state = ?, attempts = attempts + 1, lease_until = ?, changed_at = ?, run_id = ?
			WHERE campaign = ? AND rank = ? AND hostname = ?`, orchestrator.DeviceRunning, nullMicros(wall.Add(lease)), nullMicros(now), run.RunID, name, hostRank(name, host), host); err != nil {
			return err
		}
		return s.transition(ctx, tx, name, host, d.State, orchestrator.DeviceRunning, "", cause, now)
	})
	s.warm(ctx)
	return run, err
}

// Heartbeat extends a running device's lease to until (wall-clock time) and
// records its current step and checkpoint (nil keeps the stored one).
func (s *Campaigns) Heartbeat(ctx context.Context, name, host string, gen int, until time.Time, step string, checkpoint []byte) error {
	q := `UPDATE campaign_devices SET lease_until = ?, step = ? WHERE campaign = ? AND rank = ? AND hostname = ? AND generation = ? AND state = ?`
	args := []any{nullMicros(until), step, name, hostRank(name, host), host, gen, orchestrator.DeviceRunning}
	if checkpoint != nil {
		q = `UPDATE campaign_devices SET lease_until = ?, step = ?, checkpoint = ? WHERE campaign = ? AND rank = ? AND hostname = ? AND generation = ? AND state = ?`
		args = []any{nullMicros(until), step, string(checkpoint), name, hostRank(name, host), host, gen, orchestrator.DeviceRunning}
	}
	return s.group.run(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := s.exec(ctx, tx, q, args...)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("campaign %s device %s generation %d: %w", name, host, gen, orchestrator.ErrStale)
		}
		return nil
	})
}

// Finish records how a device's run ended: a final state, or deferred with
// the time of its next attempt. The checkpoint is kept for a deferred
// device (it resumes there) and cleared otherwise.
func (s *Campaigns) Finish(ctx context.Context, name, host string, gen int, to orchestrator.DeviceState, reason orchestrator.Reason, message string, next time.Time) error {
	now := s.now()
	defer s.warm(ctx)
	return s.group.run(ctx, func(ctx context.Context, tx *sql.Tx) error {
		var cur orchestrator.DeviceState
		var curGen int
		sel, err := s.prepared(ctx, tx, `SELECT state, generation FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`)
		if err != nil {
			return err
		}
		if err := sel.QueryRowContext(ctx, name, hostRank(name, host), host).Scan(&cur, &curGen); err != nil {
			return fmt.Errorf("campaign %s device %s: %w", name, host, err)
		}
		if curGen != gen || !orchestrator.EventFinish.Allows(cur, to) {
			return fmt.Errorf("campaign %s device %s is %s (generation %d, job %d): %w", name, host, cur, curGen, gen, orchestrator.ErrStale)
		}
		checkpoint := "checkpoint"
		if to != orchestrator.DeviceDeferred {
			checkpoint = "NULL"
		}
		if _, err := s.exec(ctx, tx, `UPDATE campaign_devices SET state = ?, reason = ?, message = ?, next_attempt_at = ?, lease_until = NULL,
			step = '', changed_at = ?, checkpoint = `+checkpoint+` WHERE campaign = ? AND rank = ? AND hostname = ?`,
			to, reason, message, nullMicros(next), nullMicros(now), name, hostRank(name, host), host); err != nil {
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
func (s *Campaigns) Orphans(ctx context.Context, name string, wall time.Time, enqueue orchestrator.Enqueue) ([]orchestrator.Dispatch, error) {
	now := s.now()
	// Most passes find none: look on a reader first, and take the write
	// lock only for orphans.
	var any int
	if err := s.rdb.QueryRowContext(ctx, `SELECT count(*) FROM (SELECT 1 FROM campaign_devices WHERE campaign = ? AND state = ? AND lease_until < ? LIMIT 1)`,
		name, orchestrator.DeviceRunning, nullMicros(wall)).Scan(&any); err != nil || any == 0 {
		return nil, err
	}
	var out []orchestrator.Dispatch
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT hostname FROM campaign_devices WHERE campaign = ? AND state = ? AND lease_until < ?`,
			name, orchestrator.DeviceRunning, nullMicros(wall))
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
		moved, err := s.moveMany(ctx, tx, name, hosts, now, "controller: its worker went silent; resuming from the last checkpoint",
			orchestrator.EventOrphaned, orchestrator.DeviceQueued)
		if err != nil {
			return err
		}
		out = moved
		if len(out) > 0 && enqueue != nil {
			return enqueue(ctx, tx, out)
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
func (s *Campaigns) Redispatch(ctx context.Context, name, host string, gen int, cause string, enqueue orchestrator.Enqueue) (bool, error) {
	now := s.now()
	var moved bool
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		var cur orchestrator.DeviceState
		var curGen int
		err := tx.QueryRowContext(ctx, `SELECT state, generation FROM campaign_devices WHERE campaign = ? AND rank = ? AND hostname = ?`, name, hostRank(name, host), host).Scan(&cur, &curGen)
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		if err != nil {
			return err
		}
		if !orchestrator.EventRedispatch.Allows(cur, orchestrator.DeviceQueued) || curGen != gen {
			return nil
		}
		d, ok, err := s.move(ctx, tx, name, host, now, cause, orchestrator.EventRedispatch, orchestrator.DeviceQueued)
		if err != nil || !ok {
			return err
		}
		moved = true
		if enqueue != nil {
			return enqueue(ctx, tx, []orchestrator.Dispatch{d})
		}
		return nil
	})
	return moved, err
}

// Retry reopens a campaign's failed devices (those f selects by wave,
// organisation and reason; its state is ignored) as
// the state machine says (orchestrator.EventRetry, RetryWaveFrom,
// ActionRetry): each becomes pending, to start afresh; a halted or done
// wave it belongs to becomes active again so that the controller
// dispatches it, and a done campaign runs again. An accepted failure is
// no longer accepted: it runs again. It returns how many devices it
// reopened.
func (s *Campaigns) Retry(ctx context.Context, name string, f orchestrator.DeviceFilter) (int, error) {
	retry, _ := orchestrator.MoveFor(orchestrator.EventRetry)
	reopen, _ := orchestrator.ChangeFor(orchestrator.ActionRetry)
	now := s.now()
	n := 0
	err := withTx(ctx, s.db, func(tx *sql.Tx) error {
		q := `SELECT hostname, state, wave FROM campaign_devices WHERE campaign = ? AND state IN (` + marks(len(retry.From)) + `)`
		args := append([]any{name}, anys(retry.From)...)
		f.State = ""
		where, wargs := filterWhere(name, f)
		q += where
		args = append(args, wargs...)
		rows, err := tx.QueryContext(ctx, q, args...)
		if err != nil {
			return fmt.Errorf("campaign %s: failed devices: %w", name, err)
		}
		type member struct {
			host  string
			state orchestrator.DeviceState
			wave  int
		}
		var list []member
		for rows.Next() {
			var m member
			if err := rows.Scan(&m.host, &m.state, &m.wave); err != nil {
				rows.Close()
				return err
			}
			list = append(list, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		to := retry.To[0]
		for _, m := range list {
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_devices SET state = ?, reason = '', message = '', checkpoint = NULL, run_id = '', accepted = 0,
				changed_at = ? WHERE campaign = ? AND rank = ? AND hostname = ?`, to, nullMicros(now), name, hostRank(name, m.host), m.host); err != nil {
				return fmt.Errorf("campaign %s device %s: retry: %w", name, m.host, err)
			}
			if err := s.transition(ctx, tx, name, m.host, m.state, to, "", "retry command", now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE campaign_waves SET status = ?, reason = '', completed_at = NULL
				WHERE campaign = ? AND idx = ? AND status IN (`+marks(len(orchestrator.RetryWaveFrom))+`)`,
				append([]any{orchestrator.WaveActive, name, m.wave}, anys(orchestrator.RetryWaveFrom)...)...); err != nil {
				return fmt.Errorf("campaign %s wave %d: reopen: %w", name, m.wave, err)
			}
			n++
		}
		if n > 0 {
			if _, err := tx.ExecContext(ctx, `UPDATE campaigns SET status = ? WHERE name = ? AND status IN (`+marks(len(reopen.From))+`)`,
				append([]any{reopen.To, name}, anys(reopen.From)...)...); err != nil {
				return fmt.Errorf("campaign %s: reopen: %w", name, err)
			}
		}
		return s.markDirty(ctx, tx, name)
	})
	return n, err
}

// Transitions returns a device's recorded transitions, oldest first (all
// devices' when hostname is ""), each with its id and the device's
// organisation.
func (s *Campaigns) Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error) {
	q := `SELECT ` + transitionCols + ` FROM ` + transitionsJoin + ` WHERE t.campaign = ?`
	args := []any{name}
	if hostname != "" {
		q += ` AND t.hostname = ?`
		args = append(args, hostname)
	}
	rows, err := s.rdb.QueryContext(ctx, q+` ORDER BY t.id`, args...)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: transitions: %w", name, err)
	}
	return scanTransitions(rows, name)
}

// TransitionsAfter returns up to limit of a campaign's transitions whose
// id is above after, oldest first, each with its id and the device's
// organisation: those of devices in orgs, or of every organisation when
// orgs is nil (an empty orgs selects none). A reader follows a campaign
// by passing the last id it saw. It reads a range of
// campaign_transitions_campaign from after, each device found by its key,
// so what it costs grows with the page (and, filtered by organisation,
// with the other organisations' transitions between its rows), never with
// the campaign. SQLite has one writer at a time: a transaction's ids are
// above every id committed before it and below every id committed after
// it, so id order is commit order, and a reader that saw an id has seen
// every id below it. An unknown campaign is an error wrapping
// errkind.NotFound; a limit under 1, errkind.Invalid.
func (s *Campaigns) TransitionsAfter(ctx context.Context, name string, after int64, orgs []string, limit int) ([]orchestrator.Transition, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("campaign %s: transitions after %d: a limit of %d: %w", name, after, limit, errkind.Invalid)
	}
	var out []orchestrator.Transition
	if orgs == nil || len(orgs) > 0 {
		var list any // NULL: every organisation
		if orgs != nil {
			b, err := json.Marshal(orgs)
			if err != nil {
				return nil, err
			}
			list = string(b)
		}
		rows, err := s.rdb.QueryContext(ctx, transitionsAfterQuery, name, after, list, list, limit)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: transitions after %d: %w", name, after, err)
		}
		if out, err = scanTransitions(rows, name); err != nil {
			return nil, fmt.Errorf("campaign %s: transitions after %d: %w", name, after, err)
		}
	}
	if len(out) == 0 {
		// Transitions are recorded only beside a campaign's devices: a
		// page with some names a campaign that exists.
		if _, err := s.campaignIn(ctx, s.rdb, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// transitionCols are the columns scanTransitions reads, from
// transitionsJoin.
const transitionCols = `t.id, t.hostname, d.org, t.from_state, t.to_state, t.reason, t.cause, t.at`

// transitionsJoin is campaign_transitions t, each row with its device d
// found by campaign_devices_hostname (campaign, rank, hostname). CROSS
// JOIN keeps t the outer loop: SQLite reads the transitions in id order
// and never a campaign's devices whole.
const transitionsJoin = `campaign_transitions t CROSS JOIN campaign_devices d
	ON d.campaign = t.campaign AND d.rank = campaign_rank(t.campaign, t.hostname) AND d.hostname = t.hostname`

// transitionsAfterQuery reads a page of a campaign's transitions after
// an id, of the organisations in a JSON list (twice; NULL for all):
// campaign, after, list, list, limit.
const transitionsAfterQuery = `SELECT ` + transitionCols + ` FROM ` + transitionsJoin + `
	WHERE t.campaign = ? AND t.id > ? AND (? IS NULL OR d.org IN (SELECT value FROM json_each(?))) ORDER BY t.id LIMIT ?`

// scanTransitions reads every row of rows (transitionCols) of campaign
// name and closes them.
func scanTransitions(rows *sql.Rows, name string) ([]orchestrator.Transition, error) {
	defer rows.Close()
	var out []orchestrator.Transition
	for rows.Next() {
		t := orchestrator.Transition{Campaign: name}
		var at sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Hostname, &t.Org, &t.From, &t.To, &t.Reason, &t.Cause, &at); err != nil {
			return nil, err
		}
		t.At = fromMicros(at)
		out = append(out, t)
	}
	return out, rows.Err()
}

// campaign_rank(campaign, hostname) is hostRank in SQL, for the
// migration that fills in the ranks of devices stored before it.
func init() {
	sqlite.MustRegisterDeterministicScalarFunction("campaign_rank", 2, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		campaign, ok1 := args[0].(string)
		host, ok2 := args[1].(string)
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("campaign_rank(%T, %T): want two texts", args[0], args[1])
		}
		return hostRank(campaign, host), nil
	})
}
