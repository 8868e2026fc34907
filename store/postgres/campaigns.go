package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"iter"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
)

// Campaigns stores campaigns, their waves, their devices' states, every
// transition and people's decisions. It implements orchestrator.Store
// (what the scheduler consumes), campaigns.Store and reports.Campaigns;
// its errors wrap errkind.NotFound, errkind.Exists, errkind.Invalid,
// orchestrator.ErrState and orchestrator.ErrStale.
//
// Several nodes write at once: one node's workers begin, heartbeat and
// finish devices while another's control pass applies a plan or requeues
// orphans. Every write is its own transaction (READ COMMITTED), and every
// move of a device locks its row (SELECT ... FOR UPDATE) and checks the
// state and generation it expects before it changes it, so two nodes
// never dispatch or begin the same device twice, and a stale job finds
// orchestrator.ErrStale. Rows are locked in one order, so that two
// writers never wait for each other in a cycle: a campaign's devices (by
// hostname), then its waves (by index), then the campaign's own row.
//
// The Enqueue the store calls with a plan's dispatches receives the
// store's transaction as an orchestrator.Tx holding a pgx.Tx: the
// scheduler inserts the devices' jobs (River's riverpgxv5 driver) in it,
// so that the jobs and the devices' moves commit together or not at all.
type Campaigns struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ orchestrator.Store = (*Campaigns)(nil)

// Now is the time by the store's clock.
func (s *Campaigns) Now() time.Time { return s.now() }

// params numbers a statement's parameters as it is built.
type params []any

// add appends v and returns its placeholder.
func (p *params) add(v any) string {
	*p = append(*p, v)
	return "$" + strconv.Itoa(len(*p))
}

// texts converts a list of string kinds to the text[] parameter pgx takes.
func texts[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// newRunID names a device's run: short (it goes into scheduled task names
// on the device) and unique per campaign, device and start.
func newRunID(campaign, host string, at time.Time) string {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%d", campaign, host, at.UnixNano())
	return fmt.Sprintf("c%015x", h.Sum64()>>4)
}

// Create stores a campaign, its waves and its members in one
// transaction, reading members as it writes them with COPY: a national
// campaign is never held in memory, only its counts per wave,
// organisation and site, which it writes after the devices. A member
// listed twice fails the whole create (errkind.Invalid); a name taken
// fails it with errkind.Exists.
func (s *Campaigns) Create(ctx context.Context, c orchestrator.Campaign, waves []string, members iter.Seq[orchestrator.Member]) error {
	now := stamp(s.now())
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO campaigns (name, spec_file, spec, playbook_file, playbook, status, created_at, updated_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`, c.Name, c.SpecFile, c.Spec, c.PlaybookFile, c.Playbook, string(orchestrator.StatusDraft), now)
		if uniqueViolation(err) {
			return fmt.Errorf("campaign %s: %w", c.Name, errkind.Exists)
		}
		if err != nil {
			return fmt.Errorf("create campaign %s: %w", c.Name, err)
		}
		for i, w := range waves {
			if _, err := tx.Exec(ctx, `INSERT INTO campaign_waves (campaign, idx, name, status) VALUES ($1, $2, $3, $4)`,
				c.Name, i, w, string(orchestrator.WavePending)); err != nil {
				return fmt.Errorf("create campaign %s wave %s: %w", c.Name, w, err)
			}
		}
		type group struct {
			wave      int
			org, site string
		}
		counts := map[group]int{}
		if members == nil {
			members = func(func(orchestrator.Member) bool) {}
		}
		next, stop := iter.Pull(members)
		defer stop()
		row := make([]any, 8)
		var bad error
		src := pgx.CopyFromFunc(func() ([]any, error) {
			m, ok := next()
			if !ok {
				return nil, nil
			}
			if m.Order < 0 || m.Order > 1<<31-1 {
				bad = fmt.Errorf("create campaign %s: device %s: dispatch order %d out of range: %w", c.Name, m.Hostname, m.Order, errkind.Invalid)
				return nil, bad
			}
			counts[group{m.Wave, m.Org, m.Site}]++
			row[0], row[1], row[2], row[3], row[4], row[5], row[6], row[7] = c.Name, m.Hostname, m.Org, m.Site, m.Wave, m.Order,
				string(orchestrator.DevicePending), now
			return row, nil
		})
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"campaign_devices"},
			[]string{"campaign", "hostname", "org", "site", "wave", "ord", "state", "changed_at"}, src)
		if bad != nil {
			return bad
		}
		if constraint, dup := violated(err); dup {
			what := "a device is listed twice"
			if constraint == "campaign_devices_ord" {
				what = "two devices have the same dispatch order"
			}
			return fmt.Errorf("create campaign %s: %s: %w", c.Name, what, errkind.Invalid)
		}
		if err != nil {
			return fmt.Errorf("create campaign %s: devices: %w", c.Name, err)
		}
		if len(counts) == 0 {
			return nil
		}
		var ws []int32
		var orgs, sites []string
		var ns []int32
		for g, n := range counts {
			ws, orgs, sites, ns = append(ws, int32(g.wave)), append(orgs, g.org), append(sites, g.site), append(ns, int32(n))
		}
		if _, err := tx.Exec(ctx, `INSERT INTO campaign_counts (campaign, wave, org, site, state, reason, accepted, devices)
			SELECT $1, w, o, si, $2, '', false, n FROM unnest($3::integer[], $4::text[], $5::text[], $6::integer[]) AS u(w, o, si, n)`,
			c.Name, string(orchestrator.DevicePending), ws, orgs, sites, ns); err != nil {
			return fmt.Errorf("create campaign %s: counts: %w", c.Name, err)
		}
		return nil
	})
}

const campaignCols = `name, spec_file, spec, playbook_file, playbook, status, wake_at, seq, created_at, updated_at`

func scanCampaign(row pgx.CollectableRow) (orchestrator.Campaign, error) {
	var c orchestrator.Campaign
	var wake *time.Time
	err := row.Scan(&c.Name, &c.SpecFile, &c.Spec, &c.PlaybookFile, &c.Playbook, &c.Status, &wake, &c.Seq, &c.CreatedAt, &c.UpdatedAt)
	c.WakeAt, c.CreatedAt, c.UpdatedAt = fromNull(wake), c.CreatedAt.UTC(), c.UpdatedAt.UTC()
	return c, err
}

// Campaign returns one campaign.
func (s *Campaigns) Campaign(ctx context.Context, name string) (orchestrator.Campaign, error) {
	return campaignIn(ctx, s.pool, name)
}

// campaignIn reads one campaign through q.
func campaignIn(ctx context.Context, q querier, name string) (orchestrator.Campaign, error) {
	rows, _ := q.Query(ctx, `SELECT `+campaignCols+` FROM campaigns WHERE name = $1`, name)
	c, err := pgx.CollectExactlyOneRow(rows, scanCampaign)
	if errors.Is(err, pgx.ErrNoRows) {
		return c, fmt.Errorf("campaign %s: %w", name, errkind.NotFound)
	}
	if err != nil {
		return c, fmt.Errorf("campaign %s: %w", name, err)
	}
	return c, nil
}

// Campaigns lists the campaigns, oldest first.
func (s *Campaigns) Campaigns(ctx context.Context) ([]orchestrator.Campaign, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+campaignCols+` FROM campaigns ORDER BY created_at, name COLLATE "C"`)
	out, err := pgx.CollectRows(rows, scanCampaign)
	if err != nil {
		return nil, fmt.Errorf("list campaigns: %w", err)
	}
	return out, nil
}

// countsOf is a campaign's ($1) counts as stored: its folded counts and
// the deltas not yet folded in, which a reader sums by key.
const countsOf = `(SELECT wave, org, site, state, reason, accepted, devices FROM campaign_counts WHERE campaign = $1
	UNION ALL SELECT wave, org, site, state, reason, accepted, delta FROM campaign_count_deltas WHERE campaign = $1) AS n`

// Counts returns a campaign's devices counted by wave, organisation,
// site, state, reason and acceptance: a few hundred rows for a national
// campaign, exact in the snapshot they are read in (see the migration).
func (s *Campaigns) Counts(ctx context.Context, name string) ([]orchestrator.Count, error) {
	rows, _ := s.pool.Query(ctx, `SELECT wave, org, site, state, reason, accepted, sum(devices) FROM `+countsOf+`
		GROUP BY wave, org, site, state, reason, accepted HAVING sum(devices) > 0
		ORDER BY wave, org COLLATE "C", site COLLATE "C", state COLLATE "C", reason COLLATE "C", accepted`, name)
	var c orchestrator.Count
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orchestrator.Count, error) {
		err := row.Scan(&c.Wave, &c.Org, &c.Site, &c.State, &c.Reason, &c.Accepted, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: counts: %w", name, err)
	}
	return out, nil
}

// fold folds a campaign's count deltas into its counts, in one
// statement: two folds at once fold disjoint deltas (each deletes the
// rows it sums, and skips those another deleted first), and take the
// counts' row locks in key order.
func fold(ctx context.Context, q querier, name string) error {
	_, err := q.Exec(ctx, `WITH gone AS (DELETE FROM campaign_count_deltas WHERE campaign = $1
			RETURNING wave, org, site, state, reason, accepted, delta)
		INSERT INTO campaign_counts (campaign, wave, org, site, state, reason, accepted, devices)
		SELECT $1, wave, org, site, state, reason, accepted, sum(delta) FROM gone
		GROUP BY wave, org, site, state, reason, accepted HAVING sum(delta) <> 0
		ORDER BY wave, org, site, state, reason, accepted
		ON CONFLICT (campaign, wave, org, site, state, reason, accepted) DO UPDATE SET devices = campaign_counts.devices + excluded.devices`, name)
	if err != nil {
		return fmt.Errorf("campaign %s: fold counts: %w", name, err)
	}
	return nil
}

// StateCounts counts a campaign's devices per wave and state.
func (s *Campaigns) StateCounts(ctx context.Context, name string) ([]orchestrator.StateCount, error) {
	rows, _ := s.pool.Query(ctx, `SELECT wave, state, sum(devices) FROM `+countsOf+`
		GROUP BY wave, state HAVING sum(devices) > 0 ORDER BY wave, state COLLATE "C"`, name)
	var c orchestrator.StateCount
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orchestrator.StateCount, error) {
		err := row.Scan(&c.Wave, &c.State, &c.Devices)
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: count states: %w", name, err)
	}
	return out, nil
}

// Orgs lists the organisations a campaign's devices belong to, from its
// counts.
func (s *Campaigns) Orgs(ctx context.Context, name string) ([]string, error) {
	rows, _ := s.pool.Query(ctx, `SELECT org FROM `+countsOf+` GROUP BY org HAVING sum(devices) > 0 ORDER BY org COLLATE "C"`, name)
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("campaign %s: organisations: %w", name, err)
	}
	return out, nil
}

// memberCols are the columns scanMember reads.
const memberCols = `hostname, org, site, wave, ord, state, reason, message, step, attempts,
	generation, next_attempt_at, lease_until, changed_at, checkpoint, accepted`

func scanMember(row pgx.CollectableRow) (orchestrator.DeviceRecord, error) {
	var d orchestrator.DeviceRecord
	err := scanMemberInto(row, &d)
	return d, err
}

// scanMemberInto reads memberCols into d, and the columns after them
// into more.
func scanMemberInto(row pgx.Row, d *orchestrator.DeviceRecord, more ...any) error {
	var next, lease *time.Time
	err := row.Scan(append([]any{&d.Hostname, &d.Org, &d.Site, &d.Wave, &d.Order, &d.State, &d.Reason, &d.Message, &d.Step, &d.Attempts,
		&d.Generation, &next, &lease, &d.Changed, &d.Checkpoint, &d.Accepted}, more...)...)
	d.NextAttempt, d.LeaseUntil, d.Changed = fromNull(next), fromNull(lease), d.Changed.UTC()
	return err
}

// Members returns a campaign's devices in dispatch order.
func (s *Campaigns) Members(ctx context.Context, name string) ([]orchestrator.DeviceRecord, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = $1 ORDER BY ord`, name)
	out, err := pgx.CollectRows(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: devices: %w", name, err)
	}
	return out, nil
}

// Device returns one member of a campaign.
func (s *Campaigns) Device(ctx context.Context, name, hostname string) (orchestrator.DeviceRecord, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = $1 AND hostname = $2`, name, hostname)
	d, err := pgx.CollectExactlyOneRow(rows, scanMember)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("campaign %s device %s: %w", name, hostname, errkind.NotFound)
	}
	if err != nil {
		return d, fmt.Errorf("campaign %s device %s: %w", name, hostname, err)
	}
	return d, nil
}

// Deferred returns a campaign's deferred devices in dispatch order.
func (s *Campaigns) Deferred(ctx context.Context, name string) ([]orchestrator.DeviceRecord, error) {
	rows, _ := s.pool.Query(ctx, `SELECT `+memberCols+` FROM campaign_devices WHERE campaign = $1 AND state = $2 ORDER BY ord`,
		name, string(orchestrator.DeviceDeferred))
	out, err := pgx.CollectRows(rows, scanMember)
	if err != nil {
		return nil, fmt.Errorf("campaign %s: deferred devices: %w", name, err)
	}
	return out, nil
}

// Pending returns up to limit pending devices of a campaign's wave in org
// whose dispatch order is after after, in dispatch order: one range of
// campaign_devices_group.
func (s *Campaigns) Pending(ctx context.Context, name string, wave int, org string, after, limit int) ([]orchestrator.Member, error) {
	rows, _ := s.pool.Query(ctx, pendingQuery, name, string(orchestrator.DevicePending), wave, org, after, limit)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orchestrator.Member, error) {
		m := orchestrator.Member{Org: org, Wave: wave, State: orchestrator.DevicePending}
		err := row.Scan(&m.Hostname, &m.Site, &m.Order)
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: pending devices of %s: %w", name, org, err)
	}
	return out, nil
}

// pendingQuery reads a page of a wave's pending devices in an
// organisation: campaign, state, wave, org, after, limit.
const pendingQuery = `SELECT hostname, site, ord FROM campaign_devices
	WHERE campaign = $1 AND state = $2 AND wave = $3 AND org = $4 AND ord > $5 ORDER BY ord LIMIT $6`

// headsQuery reads the first few pending devices of each organisation
// in a list: for each, a range of campaign_devices_group. Its
// parameters: the organisations, campaign, state, wave, limit.
const headsQuery = `SELECT o.org, d.hostname, d.site, d.ord FROM unnest($1::text[]) AS o(org)
	CROSS JOIN LATERAL (SELECT hostname, site, ord FROM campaign_devices
		WHERE campaign = $2 AND state = $3 AND wave = $4 AND org = o.org ORDER BY ord LIMIT $5) d
	ORDER BY d.ord`

// PendingHeads returns the first limit pending devices of a campaign's
// wave in each of orgs, one list per organisation in orgs' order, in one
// statement: for each organisation a range of campaign_devices_group
// (a LATERAL join with a LIMIT).
func (s *Campaigns) PendingHeads(ctx context.Context, name string, wave int, orgs []string, limit int) ([][]orchestrator.Member, error) {
	distinct := slices.Compact(slices.Sorted(slices.Values(orgs)))
	rows, _ := s.pool.Query(ctx, headsQuery, distinct, name, string(orchestrator.DevicePending), wave, limit)
	by := make(map[string][]orchestrator.Member, len(distinct))
	m := orchestrator.Member{Wave: wave, State: orchestrator.DevicePending}
	_, err := pgx.ForEachRow(rows, []any{&m.Org, &m.Hostname, &m.Site, &m.Order}, func() error {
		by[m.Org] = append(by[m.Org], m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("campaign %s: pending devices: %w", name, err)
	}
	out := make([][]orchestrator.Member, len(orgs))
	for i, org := range orgs {
		out[i] = slices.Clone(by[org])
	}
	return out, nil
}

// dueQuery lists the campaigns in a status of $1 that are dirty, whose
// wake-up time is before $2, or with a running device whose lease lapsed
// before $3.
const dueQuery = `SELECT name FROM campaigns c WHERE status = ANY($1)
	AND (dirty OR wake_at <= $2 OR EXISTS (SELECT 1 FROM campaign_devices d
		WHERE d.campaign = c.name AND d.` + isRunning + ` AND d.lease_until < $3)) ORDER BY created_at, name COLLATE "C"`

// Due lists the live campaigns the controller should decide for now:
// those changed since it last did, whose wake-up time has come, or with a
// device whose worker went silent (its lease expired before wall, the
// wall-clock time).
func (s *Campaigns) Due(ctx context.Context, now, wall time.Time) ([]string, error) {
	var live []string
	for _, st := range orchestrator.Statuses {
		if st.Live() {
			live = append(live, string(st))
		}
	}
	rows, _ := s.pool.Query(ctx, dueQuery, live, now.UTC(), wall.UTC())
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("due campaigns: %w", err)
	}
	return out, nil
}

// Waves returns a campaign's waves' names and states, in order.
func (s *Campaigns) Waves(ctx context.Context, name string) ([]string, []orchestrator.WaveState, error) {
	rows, _ := s.pool.Query(ctx, `SELECT name, status, started_at, completed_at, approved, reason
		FROM campaign_waves WHERE campaign = $1 ORDER BY idx`, name)
	var names []string
	var states []orchestrator.WaveState
	var n string
	var w orchestrator.WaveState
	var started, completed *time.Time
	_, err := pgx.ForEachRow(rows, []any{&n, &w.Status, &started, &completed, &w.Approved, &w.Reason}, func() error {
		w.Started, w.Completed = fromNull(started), fromNull(completed)
		names, states = append(names, n), append(states, w)
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("campaign %s: waves: %w", name, err)
	}
	return names, states, nil
}

// ChangeStatus applies a person's action (start, pause, resume, cancel) to
// a campaign as the status machine allows (orchestrator.StatusChanges),
// marks it for the controller, and returns its new status. A status the
// action does not start from is an error wrapping orchestrator.ErrState,
// as is a campaign another node changed meanwhile.
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
	tag, err := s.pool.Exec(ctx, `UPDATE campaigns SET status = $1, dirty = true, seq = seq + 1, updated_at = $2 WHERE name = $3 AND status = $4`,
		string(change.To), stamp(s.now()), name, string(c.Status))
	if err != nil {
		return "", fmt.Errorf("campaign %s: %s: %w", name, a, err)
	}
	if tag.RowsAffected() == 0 {
		return "", fmt.Errorf("campaign %s changed meanwhile: %w", name, orchestrator.ErrState)
	}
	return change.To, nil
}

// Approve gives a wave its manual approval and records ev, the person's
// decision.
func (s *Campaigns) Approve(ctx context.Context, name, wave string, ev orchestrator.Event) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE campaign_waves SET approved = true WHERE campaign = $1 AND name = $2`, name, wave)
		if err != nil {
			return fmt.Errorf("campaign %s: approve %s: %w", name, wave, err)
		}
		if tag.RowsAffected() == 0 {
			if _, err := campaignIn(ctx, tx, name); err != nil {
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

// markDirty marks a campaign for the controller: something changed since
// its last decision. It locks the campaign's row, so callers take it
// last.
func (s *Campaigns) markDirty(ctx context.Context, q querier, name string) error {
	if _, err := q.Exec(ctx, `UPDATE campaigns SET dirty = true, seq = seq + 1, updated_at = $1 WHERE name = $2`, stamp(s.now()), name); err != nil {
		return fmt.Errorf("campaign %s: %w", name, err)
	}
	return nil
}

// Apply records a plan decided on the campaign as it was at seq: the
// devices it dispatches (moved to queued only from pending or deferred,
// under their rows' locks, so a device is never queued twice), wave
// changes, the wake-up time, and done. If anything changed since seq,
// the campaign stays marked for another decision. enqueue runs in the
// same transaction (a pgx.Tx) with the dispatches that took, to insert
// their jobs: both commit or neither. It first folds the campaign's
// count deltas into its counts.
func (s *Campaigns) Apply(ctx context.Context, name string, seq int64, p orchestrator.Plan, now time.Time, cause string,
	enqueue orchestrator.Enqueue) ([]orchestrator.Dispatch, error) {
	if err := fold(ctx, s.pool, name); err != nil {
		return nil, err
	}
	var out []orchestrator.Dispatch
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = nil
		var err error
		if len(p.Dispatch) > 0 {
			rule, _ := orchestrator.MoveFor(orchestrator.EventDispatch)
			// Only devices it may dispatch: a running one a worker is
			// finishing is neither waited for nor held.
			locked, err := lockDevices(ctx, tx, name, `hostname = ANY($2) AND state = ANY($3)`, p.Dispatch, texts(rule.From))
			if err != nil {
				return err
			}
			out, err = s.moveLocked(ctx, tx, name, p.Dispatch, locked, rule, orchestrator.DeviceQueued, now, cause)
			if err != nil {
				return err
			}
		}
		changes := slices.Clone(p.WaveChanges)
		slices.SortStableFunc(changes, func(a, b orchestrator.WaveChange) int { return a.Wave - b.Wave })
		for _, c := range changes {
			if _, err := tx.Exec(ctx, `UPDATE campaign_waves SET status = $1, started_at = $2, completed_at = $3, approved = $4, reason = $5
				WHERE campaign = $6 AND idx = $7`, string(c.State.Status), nullTime(c.State.Started), nullTime(c.State.Completed),
				c.State.Approved, c.State.Reason, name, c.Wave); err != nil {
				return fmt.Errorf("campaign %s wave %d: %w", name, c.Wave, err)
			}
		}
		// A done plan completes the campaign (orchestrator.ActionComplete)
		// only if nothing changed since seq: a pause or retry meanwhile
		// wins (the row's lock orders this after any change committed).
		a := params{name, seq, nullTime(p.WakeAt), stamp(now)}
		status := `status`
		if p.Done {
			complete, _ := orchestrator.ChangeFor(orchestrator.ActionComplete)
			status = `CASE WHEN seq = $2 AND status = ANY(` + a.add(texts(complete.From)) + `) THEN ` + a.add(string(complete.To)) + ` ELSE status END`
		}
		tag, err := tx.Exec(ctx, `UPDATE campaigns SET wake_at = $3, dirty = (seq <> $2), updated_at = $4, status = `+status+`
			WHERE name = $1`, a...)
		if err != nil {
			return fmt.Errorf("campaign %s: apply: %w", name, err)
		}
		if tag.RowsAffected() == 0 {
			return fmt.Errorf("campaign %s: %w", name, errkind.NotFound)
		}
		if len(out) > 0 && enqueue != nil {
			return enqueue(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// locked is a device as lockDevices found it, its row locked.
type locked struct {
	org        string
	state      orchestrator.DeviceState
	reason     orchestrator.Reason
	wave       int
	generation int
}

// lockDevices locks the rows of a campaign's ($1) devices that where
// selects (with args from $2), in hostname order, and returns them as
// they now stand: READ COMMITTED re-reads a row another transaction
// changed once it is free, and where is checked again on what it reads.
func lockDevices(ctx context.Context, tx pgx.Tx, name, where string, args ...any) (map[string]locked, error) {
	rows, _ := tx.Query(ctx, `SELECT hostname, org, state, reason, wave, generation FROM campaign_devices
		WHERE campaign = $1 AND `+where+` ORDER BY hostname FOR UPDATE`, append([]any{name}, args...)...)
	out := map[string]locked{}
	var h string
	var l locked
	if _, err := pgx.ForEachRow(rows, []any{&h, &l.org, &l.state, &l.reason, &l.wave, &l.generation}, func() error {
		out[h] = l
		return nil
	}); err != nil {
		return nil, fmt.Errorf("campaign %s: lock devices: %w", name, err)
	}
	return out, nil
}

// moveLocked moves the devices of hosts (in that order, each once) that
// lockDevices locked and rule moves from where they stand to state to,
// clearing their reason and lease and starting a new generation when the
// rule does, and records their transitions. It returns them with their
// generations; the others are left as they are.
func (s *Campaigns) moveLocked(ctx context.Context, tx pgx.Tx, name string, hosts []string, devs map[string]locked,
	rule orchestrator.DeviceMove, to orchestrator.DeviceState, now time.Time, cause string) ([]orchestrator.Dispatch, error) {
	var move, from []string
	var out []orchestrator.Dispatch
	gen := 0
	if rule.NewGeneration {
		gen = 1
	}
	for _, h := range hosts {
		d, ok := devs[h]
		if !ok || !rule.Moves(d.state, d.reason) {
			continue
		}
		delete(devs, h) // a host named twice moves once
		move, from = append(move, h), append(from, string(d.state))
		out = append(out, orchestrator.Dispatch{Campaign: name, Hostname: h, Org: d.org, Generation: d.generation + gen})
	}
	if len(move) == 0 {
		return nil, nil
	}
	at := stamp(now)
	tag, err := tx.Exec(ctx, `UPDATE campaign_devices SET state = $1, reason = '', generation = generation + $2, changed_at = $3, lease_until = NULL
		WHERE campaign = $4 AND hostname = ANY($5) AND state = ANY($6)`, string(to), gen, at, name, move, texts(rule.From))
	if err != nil {
		return nil, fmt.Errorf("campaign %s: %s: %w", name, rule.Event, err)
	}
	if int(tag.RowsAffected()) != len(move) {
		// The rows are locked: this cannot happen, unless the schema is
		// not what this store expects.
		return nil, fmt.Errorf("campaign %s: %s moved %d of %d locked devices: %w", name, rule.Event, tag.RowsAffected(), len(move), orchestrator.ErrState)
	}
	if err := transitions(ctx, tx, name, move, from, string(to), "", cause, at); err != nil {
		return nil, err
	}
	return out, nil
}

// guarded is the result of an UPDATE of one device's row, locked
// before and guarded by the state and generation read then: an error
// wrapping orchestrator.ErrStale if it changed no row, which the lock
// makes impossible unless the schema is not what this store expects.
func guarded(tag pgconn.CommandTag, err error) error {
	if err == nil && tag.RowsAffected() != 1 {
		return fmt.Errorf("the device moved under its lock: %w", orchestrator.ErrStale)
	}
	return err
}

// transitions records the moves of hosts, each from its from, to to.
// Its transaction has a transaction id before the rows take their ids
// (the WHERE, evaluated once before any row is inserted, takes one if
// it has none): TransitionsAfter counts on it. (Every caller has locked
// the devices' rows already, which takes one too.)
func transitions(ctx context.Context, tx pgx.Tx, name string, hosts, from []string, to string, reason orchestrator.Reason, cause string, at time.Time) error {
	if _, err := tx.Exec(ctx, `INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
		SELECT $1, h, f, $4, $5, $6, $7 FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS u(h, f, i)
		WHERE pg_current_xact_id() IS NOT NULL ORDER BY i`,
		name, hosts, from, to, string(reason), cause, at); err != nil {
		return fmt.Errorf("campaign %s: record transitions: %w", name, err)
	}
	return nil
}

// Begin marks a queued device running for the job of generation gen, or
// lets the same generation take it over again after its worker was lost
// (its lease expired before wall). The device's row is locked first, so
// of two nodes beginning the same job one begins it and the other finds
// it running (orchestrator.ErrState). It returns orchestrator.ErrStale
// when the job is not the device's current dispatch. Leases are
// wall-clock time, whatever the store's clock: they measure whether a
// worker process is alive.
func (s *Campaigns) Begin(ctx context.Context, name, host string, gen int, wall time.Time, lease time.Duration) (orchestrator.Run, error) {
	now := stamp(s.now())
	var run orchestrator.Run
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		run = orchestrator.Run{}
		var d orchestrator.DeviceRecord
		err := scanMemberInto(tx.QueryRow(ctx, `SELECT `+memberCols+`, run_id FROM campaign_devices WHERE campaign = $1 AND hostname = $2 FOR UPDATE`,
			name, host), &d, &run.RunID)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("campaign %s device %s: %w", name, host, err)
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
		if err := guarded(tx.Exec(ctx, `UPDATE campaign_devices SET state = $1, attempts = attempts + 1, lease_until = $2, changed_at = $3, run_id = $4
			WHERE campaign = $5 AND hostname = $6 AND state = $7 AND generation = $8`,
			string(orchestrator.DeviceRunning), stamp(wall.Add(lease)), now, run.RunID, name, host, string(d.State), gen)); err != nil {
			return fmt.Errorf("campaign %s device %s: begin: %w", name, host, err)
		}
		return transitions(ctx, tx, name, []string{host}, []string{string(d.State)}, string(orchestrator.DeviceRunning), "", cause, now)
	})
	return run, err
}

// Heartbeat extends a running device's lease to until (wall-clock time)
// and records its current step and checkpoint (nil keeps the stored
// one): one statement guarded by the generation and state it expects.
func (s *Campaigns) Heartbeat(ctx context.Context, name, host string, gen int, until time.Time, step string, checkpoint []byte) error {
	tag, err := s.pool.Exec(ctx, `UPDATE campaign_devices SET lease_until = $1, step = $2, checkpoint = coalesce($3, checkpoint)
		WHERE campaign = $4 AND hostname = $5 AND generation = $6 AND state = $7`,
		stamp(until), step, checkpoint, name, host, gen, string(orchestrator.DeviceRunning))
	if err != nil {
		return fmt.Errorf("campaign %s device %s: heartbeat: %w", name, host, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("campaign %s device %s generation %d: %w", name, host, gen, orchestrator.ErrStale)
	}
	return nil
}

// Finish records how a device's run ended: a final state, or deferred
// with the time of its next attempt. The checkpoint is kept for a
// deferred device (it resumes there) and cleared otherwise.
func (s *Campaigns) Finish(ctx context.Context, name, host string, gen int, to orchestrator.DeviceState, reason orchestrator.Reason, message string, next time.Time) error {
	now := stamp(s.now())
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var cur orchestrator.DeviceState
		var curGen int
		err := tx.QueryRow(ctx, `SELECT state, generation FROM campaign_devices WHERE campaign = $1 AND hostname = $2 FOR UPDATE`,
			name, host).Scan(&cur, &curGen)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("campaign %s device %s: %w", name, host, err)
		}
		if curGen != gen || !orchestrator.EventFinish.Allows(cur, to) {
			return fmt.Errorf("campaign %s device %s is %s (generation %d, job %d): %w", name, host, cur, curGen, gen, orchestrator.ErrStale)
		}
		checkpoint := "checkpoint"
		if to != orchestrator.DeviceDeferred {
			checkpoint = "NULL"
		}
		if err := guarded(tx.Exec(ctx, `UPDATE campaign_devices SET state = $1, reason = $2, message = $3, next_attempt_at = $4, lease_until = NULL,
			step = '', changed_at = $5, checkpoint = `+checkpoint+` WHERE campaign = $6 AND hostname = $7 AND state = $8 AND generation = $9`,
			string(to), string(reason), message, nullTime(next), now, name, host, string(cur), gen)); err != nil {
			return fmt.Errorf("campaign %s device %s: finish: %w", name, host, err)
		}
		if err := transitions(ctx, tx, name, []string{host}, []string{string(cur)}, string(to), reason, "worker", now); err != nil {
			return err
		}
		return s.markDirty(ctx, tx, name)
	})
}

// isRunning selects running devices. It is a constant, not a parameter,
// so that every plan, generic ones too, may read them from
// campaign_devices_running (an index of the running devices alone).
const isRunning = `state = '` + string(orchestrator.DeviceRunning) + `'`

// orphansQuery says whether a campaign ($1) has a running device whose
// lease lapsed before $2.
const orphansQuery = `SELECT EXISTS (SELECT 1 FROM campaign_devices WHERE campaign = $1 AND ` + isRunning + ` AND lease_until < $2)`

// Orphans moves running devices whose worker went silent (lease expired
// before wall, the wall-clock time) back to queued under a new
// generation, keeping their checkpoint, and enqueues their jobs in the
// same transaction. A device whose worker heartbeats meanwhile is
// re-read once its row is free, and left running.
func (s *Campaigns) Orphans(ctx context.Context, name string, wall time.Time, enqueue orchestrator.Enqueue) ([]orchestrator.Dispatch, error) {
	now := s.now()
	// Most passes find none: look without locking first.
	var found bool
	if err := s.pool.QueryRow(ctx, orphansQuery, name, wall.UTC()).Scan(&found); err != nil {
		return nil, fmt.Errorf("campaign %s: orphans: %w", name, err)
	}
	if !found {
		return nil, nil
	}
	var out []orchestrator.Dispatch
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		out = nil
		devs, err := lockDevices(ctx, tx, name, isRunning+` AND lease_until < $2`, wall.UTC())
		if err != nil {
			return err
		}
		hosts := make([]string, 0, len(devs))
		for h := range devs {
			hosts = append(hosts, h)
		}
		slices.Sort(hosts)
		rule, _ := orchestrator.MoveFor(orchestrator.EventOrphaned)
		out, err = s.moveLocked(ctx, tx, name, hosts, devs, rule, orchestrator.DeviceQueued, now,
			"controller: its worker went silent; resuming from the last checkpoint")
		if err != nil {
			return err
		}
		if len(out) > 0 && enqueue != nil {
			return enqueue(ctx, tx, out)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Redispatch gives a queued device of generation gen a new generation
// and enqueues its job in the same transaction: its job of generation
// gen was taken by a worker that died before it began. It reports false
// when the device has moved on (another generation or state): then
// nothing changes.
func (s *Campaigns) Redispatch(ctx context.Context, name, host string, gen int, cause string, enqueue orchestrator.Enqueue) (bool, error) {
	now := s.now()
	var moved bool
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		moved = false
		devs, err := lockDevices(ctx, tx, name, `hostname = $2`, host)
		if err != nil {
			return err
		}
		d, ok := devs[host]
		if !ok {
			return fmt.Errorf("campaign %s device %s: %w", name, host, errkind.NotFound)
		}
		rule, _ := orchestrator.MoveFor(orchestrator.EventRedispatch)
		if d.generation != gen || !rule.Moves(d.state, d.reason) {
			return nil
		}
		out, err := s.moveLocked(ctx, tx, name, []string{host}, devs, rule, orchestrator.DeviceQueued, now, cause)
		if err != nil || len(out) == 0 {
			return err
		}
		moved = true
		if enqueue != nil {
			return enqueue(ctx, tx, out)
		}
		return nil
	})
	return moved, err
}

// Retry reopens a campaign's failed devices (those f selects by wave,
// organisation and reason; its state is ignored) as the state machine
// says (orchestrator.EventRetry, RetryWaveFrom, ActionRetry): each
// becomes pending, to start afresh; a halted or done wave it belongs to
// becomes active again so that the controller dispatches it, and a done
// campaign runs again. An accepted failure is no longer accepted: it
// runs again. It returns how many devices it reopened.
func (s *Campaigns) Retry(ctx context.Context, name string, f orchestrator.DeviceFilter) (int, error) {
	retry, _ := orchestrator.MoveFor(orchestrator.EventRetry)
	reopen, _ := orchestrator.ChangeFor(orchestrator.ActionRetry)
	now := stamp(s.now())
	n := 0
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		n = 0
		a := params{name}
		f.State = ""
		q := `SELECT hostname, state, wave FROM campaign_devices WHERE campaign = $1 AND state = ANY(` + a.add(texts(retry.From)) + `)` +
			filterWhere(&a, f) + ` ORDER BY hostname FOR UPDATE`
		rows, _ := tx.Query(ctx, q, a...)
		var hosts, from []string
		waves := map[int]bool{}
		var h, st string
		var w int
		if _, err := pgx.ForEachRow(rows, []any{&h, &st, &w}, func() error {
			hosts, from, waves[w] = append(hosts, h), append(from, st), true
			return nil
		}); err != nil {
			return fmt.Errorf("campaign %s: failed devices: %w", name, err)
		}
		if len(hosts) > 0 {
			to := string(retry.To[0])
			if _, err := tx.Exec(ctx, `UPDATE campaign_devices SET state = $1, reason = '', message = '', checkpoint = NULL, run_id = '',
				accepted = false, changed_at = $2 WHERE campaign = $3 AND hostname = ANY($4) AND state = ANY($5)`,
				to, now, name, hosts, texts(retry.From)); err != nil {
				return fmt.Errorf("campaign %s: retry: %w", name, err)
			}
			if err := transitions(ctx, tx, name, hosts, from, to, "", "retry command", now); err != nil {
				return err
			}
			if err := reopenWaves(ctx, tx, name, waves, orchestrator.RetryWaveFrom, true); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE campaigns SET status = $1 WHERE name = $2 AND status = ANY($3)`,
				string(reopen.To), name, texts(reopen.From)); err != nil {
				return fmt.Errorf("campaign %s: reopen: %w", name, err)
			}
		}
		n = len(hosts)
		return s.markDirty(ctx, tx, name)
	})
	return n, err
}

// reopenWaves makes a campaign's waves active again, in index order,
// those of them in one of from; clearReason also clears why they halted.
func reopenWaves(ctx context.Context, tx pgx.Tx, name string, waves map[int]bool, from []orchestrator.WaveStatus, clearReason bool) error {
	idx := make([]int32, 0, len(waves))
	for w := range waves {
		idx = append(idx, int32(w))
	}
	slices.Sort(idx)
	reason := ``
	if clearReason {
		reason = `, reason = ''`
	}
	for _, w := range idx {
		if _, err := tx.Exec(ctx, `UPDATE campaign_waves SET status = $1, completed_at = NULL`+reason+`
			WHERE campaign = $2 AND idx = $3 AND status = ANY($4)`, string(orchestrator.WaveActive), name, w, texts(from)); err != nil {
			return fmt.Errorf("campaign %s wave %d: reopen: %w", name, w, err)
		}
	}
	return nil
}

// Transitions returns a device's recorded transitions, oldest first (all
// devices' when hostname is ""), each with its id and the device's
// organisation.
func (s *Campaigns) Transitions(ctx context.Context, name, hostname string) ([]orchestrator.Transition, error) {
	q := `SELECT ` + transitionCols + ` FROM ` + transitionsJoin + ` WHERE t.campaign = $1`
	args := []any{name}
	if hostname != "" {
		q += ` AND t.hostname = $2`
		args = append(args, hostname)
	}
	rows, _ := s.pool.Query(ctx, q+` ORDER BY t.id`, args...)
	out, err := pgx.CollectRows(rows, scanTransition(name))
	if err != nil {
		return nil, fmt.Errorf("campaign %s: transitions: %w", name, err)
	}
	return out, nil
}

// TransitionsAfter returns up to limit of a campaign's transitions whose
// id is above after, oldest first, each with its id and the device's
// organisation: those of devices in orgs, or of every organisation when
// orgs is nil (an empty orgs selects none). A reader follows a campaign
// by passing the last id it saw. The page is a range of
// campaign_transitions_campaign from after, each device found by its
// primary key, so what it costs grows with the page (and, filtered by
// organisation, with the other organisations' transitions between its
// rows), never with the campaign. An unknown campaign is an error
// wrapping errkind.NotFound; a limit under 1, errkind.Invalid.
//
// Ids are taken as rows are inserted but seen as their transactions
// commit, in another order: workers on every node move devices at once,
// so a reader paging by id could see id 11, committed, while id 10's
// transaction has yet to commit, and pass it for ever. Appends are not
// serialised (the audit trail's advisory lock would make every worker
// wait for every other); the reader bounds what it returns instead, to
// ids no transaction can still be writing (see settledTransitions): it
// waits for the transactions older than its read to end, a few
// milliseconds of workers' moves, at most feedWait. A transaction
// writing longer anywhere on the server (creating a national campaign)
// holds back the transitions recorded after it began: the read returns
// none, and a later one has them.
func (s *Campaigns) TransitionsAfter(ctx context.Context, name string, after int64, orgs []string, limit int) ([]orchestrator.Transition, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("campaign %s: transitions after %d: a limit of %d: %w", name, after, limit, errkind.Invalid)
	}
	var out []orchestrator.Transition
	if orgs == nil || len(orgs) > 0 {
		upTo, ok, err := s.settledTransitions(ctx)
		if err != nil {
			return nil, fmt.Errorf("campaign %s: transitions after %d: %w", name, after, err)
		}
		if ok && upTo > after {
			if out, err = s.transitionsPage(ctx, name, after, upTo, orgs, limit); err != nil {
				return nil, err
			}
		}
	}
	if len(out) == 0 {
		// Transitions are recorded only beside a campaign's devices: a
		// page with some names a campaign that exists.
		if _, err := campaignIn(ctx, s.pool, name); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// transitionsPage is a page of TransitionsAfter, of the transitions up
// to id upTo.
func (s *Campaigns) transitionsPage(ctx context.Context, name string, after, upTo int64, orgs []string, limit int) ([]orchestrator.Transition, error) {
	rows, _ := s.pool.Query(ctx, transitionsAfterQuery, name, after, upTo, orgs, limit)
	out, err := pgx.CollectRows(rows, scanTransition(name))
	if err != nil {
		return nil, fmt.Errorf("campaign %s: transitions after %d: %w", name, after, err)
	}
	return out, nil
}

// transitionCols are the columns scanTransition reads, from
// transitionsJoin.
const transitionCols = `t.id, t.hostname, d.org, t.from_state, t.to_state, t.reason, t.cause, t.at`

// transitionsJoin is campaign_transitions t, each row with its device d
// found by its primary key.
const transitionsJoin = `campaign_transitions t JOIN campaign_devices d ON d.campaign = t.campaign AND d.hostname = t.hostname`

// transitionsAfterQuery reads a page of a campaign's transitions after
// an id and up to another, of the organisations in a list (NULL for
// all): campaign, after, up to, list, limit. Its shape pins its plan,
// whatever the statistics (a campaign may hold most transitions, and
// most of them may be of other organisations): the bounds on the id are
// stated on (campaign, id), which campaign_transitions_campaign alone
// can read as a range (never the primary key, whose range of ids would
// hold every campaign's), and each row's device is a subquery of one row
// by its primary key (a LIMIT keeps PostgreSQL from making it a join it
// could start from the campaign's devices).
const transitionsAfterQuery = `SELECT ` + transitionCols + ` FROM campaign_transitions t
	CROSS JOIN LATERAL (SELECT org FROM campaign_devices WHERE campaign = t.campaign AND hostname = t.hostname LIMIT 1) d
	WHERE t.campaign = $1 AND (t.campaign, t.id) > ($1, $2) AND (t.campaign, t.id) <= ($1, $3)
		AND ($4::text[] IS NULL OR d.org = ANY($4::text[]))
	ORDER BY t.id LIMIT $5`

// scanTransition reads a row of transitionCols of campaign name.
func scanTransition(name string) pgx.RowToFunc[orchestrator.Transition] {
	return func(row pgx.CollectableRow) (orchestrator.Transition, error) {
		t := orchestrator.Transition{Campaign: name}
		err := row.Scan(&t.ID, &t.Hostname, &t.Org, &t.From, &t.To, &t.Reason, &t.Cause, &t.At)
		t.At = t.At.UTC()
		return t, err
	}
}

// feedWait is how long TransitionsAfter waits for the transactions
// older than its read to end, before it returns nothing.
const feedWait = time.Second

// settledTransitions returns an id up to which every transition is
// settled: recorded by a transaction that has committed, and so seen by
// every statement from now on, or rolled back. One statement reads how
// far the ids' sequence has handed ids out and then takes a transaction
// id of its own (committed at once, having written nothing); then it
// waits until no transaction older than that one is in progress (the
// oldest in any snapshot is younger). A transaction takes its
// transaction id before its transitions take ids (see transitions), and
// transaction ids are handed out in order, so whatever holds an id the
// sequence had given out is older than the reader's and has ended. The
// writers never wait for a reader; a read costs a transaction id. It
// reports false when they have not all ended within feedWait.
//
// Neither the rows' own xmin nor a snapshot alone would do: a
// transaction older than one in progress may have taken a larger id than
// it, and a snapshot lists only the transactions older than the last one
// to end (its xmax is not the next transaction id).
func (s *Campaigns) settledTransitions(ctx context.Context) (int64, bool, error) {
	var last int64
	var mine string // the reader's transaction id
	if err := s.pool.QueryRow(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END, pg_current_xact_id()::text
		FROM campaign_transitions_id_seq`).Scan(&last, &mine); err != nil {
		return 0, false, fmt.Errorf("the transitions' last id: %w", err)
	}
	began := time.Now()
	for wait := time.Duration(0); ; wait = min(max(2*wait, 500*time.Microsecond), 20*time.Millisecond) {
		if wait > 0 {
			if time.Since(began) >= feedWait {
				return 0, false, nil
			}
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return 0, false, ctx.Err()
			case <-t.C:
			}
		}
		var over bool
		if err := s.pool.QueryRow(ctx, `SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::text::xid8`, mine).Scan(&over); err != nil {
			return 0, false, fmt.Errorf("the transactions in progress: %w", err)
		}
		if over {
			return last, true, nil
		}
	}
}

// filterWhere is the SQL condition (starting " AND", or empty) selecting
// the devices of the campaign ($1) that f selects, its arguments added
// to a.
func filterWhere(a *params, f orchestrator.DeviceFilter) string {
	var b strings.Builder
	if f.Wave != "" {
		b.WriteString(` AND wave = (SELECT idx FROM campaign_waves WHERE campaign = $1 AND name = ` + a.add(f.Wave) + `)`)
	}
	if f.Org != "" {
		b.WriteString(` AND org = ` + a.add(f.Org))
	}
	if f.State != "" {
		b.WriteString(` AND state = ` + a.add(string(f.State)))
	}
	if f.Reason != "" {
		b.WriteString(` AND reason = ` + a.add(string(f.Reason)))
	}
	return b.String()
}
