package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/cohortrow"
	"github.com/ringmaster-fleet/ringmaster/internal/factsdoc"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Inventory is the store of organisations and devices, with the rollup
// reports read (devices alike counted per organisation, site, build,
// watched updates and days, kept exact by triggers in the transaction
// that changes a device). It implements inventory.Store.
//
// Several nodes write it at once. A device's observations are merged
// under its row lock, so two nodes observing one device keep both; the
// watched updates, which every device write reads, are changed under an
// advisory lock those writes share (watchLock).
type Inventory struct {
	pool *pgxpool.Pool
	now  func() time.Time
}

var _ inventory.Store = (*Inventory)(nil)

// CreateOrganisation stores a new organisation after validating it.
func (s *Inventory) CreateOrganisation(ctx context.Context, o *inventory.Organisation) error {
	return createOrg(ctx, s.pool, o, s.now())
}

func createOrg(ctx context.Context, q querier, o *inventory.Organisation, now time.Time) error {
	o.Normalise()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = now
	}
	o.CreatedAt = stamp(o.CreatedAt)
	_, err := q.Exec(ctx, `INSERT INTO organisations (code, name, time_zone, tags, created_at) VALUES ($1, $2, $3, $4, $5)`,
		o.Code, o.Name, o.TimeZone, strings.Join(o.Tags, ","), o.CreatedAt)
	if uniqueViolation(err) {
		return fmt.Errorf("organisation %s: %w", o.Code, errkind.Exists)
	}
	if err != nil {
		return fmt.Errorf("create organisation %s: %w", o.Code, err)
	}
	return nil
}

// Organisation returns one organisation by code.
func (s *Inventory) Organisation(ctx context.Context, code string) (inventory.Organisation, error) {
	code = inventory.NormaliseOrgCode(code)
	orgs, err := queryOrgs(ctx, s.pool, `WHERE code = $1`, code)
	if err != nil {
		return inventory.Organisation{}, err
	}
	if len(orgs) == 0 {
		return inventory.Organisation{}, fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
	}
	return orgs[0].Organisation, nil
}

// Organisations lists every organisation, by code.
func (s *Inventory) Organisations(ctx context.Context) ([]inventory.Organisation, error) {
	rows, err := queryOrgs(ctx, s.pool, "")
	if err != nil {
		return nil, err
	}
	out := make([]inventory.Organisation, len(rows))
	for i, r := range rows {
		out[i] = r.Organisation
	}
	return out, nil
}

type orgRow struct {
	id int64
	inventory.Organisation
}

func queryOrgs(ctx context.Context, q querier, where string, args ...any) ([]orgRow, error) {
	rows, _ := q.Query(ctx, `SELECT id, code, name, time_zone, tags, credential, created_at FROM organisations `+where+
		` ORDER BY code COLLATE "C"`, args...)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (orgRow, error) {
		var r orgRow
		var tags string
		err := row.Scan(&r.id, &r.Code, &r.Name, &r.TimeZone, &tags, &r.Credential, &r.CreatedAt)
		if tags != "" {
			r.Tags = strings.Split(tags, ",")
		}
		r.CreatedAt = r.CreatedAt.UTC()
		return r, err
	})
	if err != nil {
		return nil, fmt.Errorf("list organisations: %w", err)
	}
	return out, nil
}

// RemoveOrganisation deletes an organisation that has no devices. The
// organisation's row is locked first, so a device added to it meanwhile
// (its foreign key) waits for the removal, then fails.
func (s *Inventory) RemoveOrganisation(ctx context.Context, code string) error {
	code = inventory.NormaliseOrgCode(code)
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM organisations WHERE code = $1 FOR UPDATE`, code).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return fmt.Errorf("organisation %s: %w", code, errkind.NotFound)
		}
		if err != nil {
			return fmt.Errorf("remove organisation %s: %w", code, err)
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM devices WHERE org_id = $1`, id).Scan(&n); err != nil {
			return fmt.Errorf("remove organisation %s: %w", code, err)
		}
		if n > 0 {
			return fmt.Errorf("%w: organisation %s has %d device(s); remove them first (ringmaster inventory remove -l org=%s)", errkind.InUse, code, n, code)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM organisations WHERE id = $1`, id); err != nil {
			var pe *pgconn.PgError
			if errors.As(err, &pe) && pe.Code == "23503" { // an import committed its devices meanwhile
				return fmt.Errorf("%w: organisation %s has devices now; remove them first (ringmaster inventory remove -l org=%s)", errkind.InUse, code, code)
			}
			return fmt.Errorf("remove organisation %s: %w", code, err)
		}
		return nil
	})
}

// TimeZones returns every organisation's IANA time zone by code: what
// maintenance windows without a zone of their own are read in.
func (s *Inventory) TimeZones(ctx context.Context) (map[string]string, error) {
	orgs, err := s.Organisations(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(orgs))
	for _, o := range orgs {
		out[o.Code] = o.TimeZone
	}
	return out, nil
}

const deviceColumns = `d.hostname, o.code, d.site, d.address, d.credential, d.labels, d.facts, d.last_seen, d.created_at, d.updated_at`

const deviceFrom = ` FROM devices d JOIN organisations o ON o.id = d.org_id`

// scanDevice scans deviceColumns, after any of extra.
func scanDevice(row pgx.Row, d *inventory.Device, extra ...any) error {
	var labels, facts string
	var lastSeen *time.Time
	dest := append(extra, &d.Hostname, &d.Org, &d.Site, &d.Address, &d.Credential, &labels, &facts, &lastSeen, &d.CreatedAt, &d.UpdatedAt)
	if err := row.Scan(dest...); err != nil {
		return err
	}
	var err error
	if d.Labels, err = inventory.ParseLabels(labels); err != nil {
		return fmt.Errorf("device %s: labels: %w", d.Hostname, err)
	}
	if err := factsdoc.Decode(facts, &d.Facts); err != nil {
		return fmt.Errorf("device %s: %w", d.Hostname, err)
	}
	d.LastSeen, d.CreatedAt, d.UpdatedAt = fromNull(lastSeen), d.CreatedAt.UTC(), d.UpdatedAt.UTC()
	return nil
}

// Device returns the device with this hostname (case-insensitive).
func (s *Inventory) Device(ctx context.Context, hostname string) (inventory.Device, error) {
	h := inventory.NormaliseHostname(hostname)
	var d inventory.Device
	err := scanDevice(s.pool.QueryRow(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.hostname = $1`, h), &d)
	if errors.Is(err, pgx.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", h, errkind.NotFound)
	}
	if err != nil {
		return d, fmt.Errorf("device %s: %w", h, err)
	}
	return d, nil
}

// Devices yields the devices the selector matches, ordered by organisation
// then hostname. The store narrows the query with the requirements it can
// express in SQL; Selector.Matches decides. Stop early by breaking the
// loop. The rows stream from one connection of the pool.
func (s *Inventory) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return func(yield func(*inventory.Device, error) bool) {
		where, args, err := pushdown(sel)
		if err != nil {
			yield(nil, err)
			return
		}
		rows, err := s.pool.Query(ctx, `SELECT `+deviceColumns+deviceFrom+where+` ORDER BY o.code COLLATE "C", d.hostname COLLATE "C"`, args...)
		if err != nil {
			yield(nil, fmt.Errorf("list devices: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			d := new(inventory.Device)
			if err := scanDevice(rows, d); err != nil {
				yield(nil, fmt.Errorf("list devices: %w", err))
				return
			}
			if sel.Matches(d) && !yield(d, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, fmt.Errorf("list devices: %w", err))
		}
	}
}

// columns name, in a query, what pushdown's conditions are written on:
// deviceFrom's or the rollup's (which has no hostname, and keeps an
// unknown build as 0).
type columns struct {
	org, hostname, site, build, noBuild string
}

var (
	onDevices = columns{org: "o.code", hostname: "d.hostname", site: "d.site", build: "d.os_build_key", noBuild: "d.os_build_key IS NULL"}
	onRollup  = columns{org: "o.code", site: "r.site", build: "r.os_build_key", noBuild: "r.os_build_key = 0"}
)

// pushdown turns the selector requirements that SQL can answer exactly or
// as a superset into a WHERE clause over deviceFrom. It must never exclude
// a device that Selector.Matches would accept. Lists go as one array
// parameter, whatever their length.
func pushdown(sel inventory.Selector) (string, []any, error) { return pushdownOn(sel, onDevices) }

// pushdownOn is pushdown's conditions written on cols.
func pushdownOn(sel inventory.Selector, cols columns) (string, []any, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	for _, r := range sel.Requirements() {
		switch {
		case r.Key == "org" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn):
			conds = append(conds, cols.org+" = ANY("+arg(r.Values)+"::text[])")
		case r.Key == "org" && (r.Op == inventory.OpNe || r.Op == inventory.OpNotIn):
			conds = append(conds, "NOT ("+cols.org+" = ANY("+arg(r.Values)+"::text[]))")
		case r.Key == "hostname" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn) && cols.hostname != "":
			conds = append(conds, cols.hostname+" = ANY("+arg(r.Values)+"::text[])")
		case r.Key == "site" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn) && allASCII(r.Values):
			// lower() of ASCII is the same in every collation; other
			// letters are left to Matches.
			lower := make([]string, len(r.Values))
			for i, v := range r.Values {
				lower[i] = strings.ToLower(v)
			}
			conds = append(conds, "lower("+cols.site+` COLLATE "C") = ANY(`+arg(lower)+"::text[])")
		case r.Key == "build" && r.Op == inventory.OpNotExists:
			conds = append(conds, cols.noBuild)
		case r.Key == "build" && (r.Op == inventory.OpLt || r.Op == inventory.OpLe || r.Op == inventory.OpGt || r.Op == inventory.OpGe):
			v, _, err := inventory.ParseVersion(r.Values[0])
			if err != nil {
				return "", nil, err
			}
			conds = append(conds, cols.build+" "+string(r.Op)+" "+arg(v.Key())+"::bigint")
		}
	}
	if len(conds) == 0 {
		return "", nil, nil
	}
	return " WHERE " + strings.Join(conds, " AND "), args, nil
}

func allASCII(vals []string) bool {
	for _, v := range vals {
		for i := 0; i < len(v); i++ {
			if v[i] >= 0x80 {
				return false
			}
		}
	}
	return true
}

// RemoveDevices deletes the devices the selector matches, in one
// transaction and one statement, and returns their hostnames. The devices
// are locked as they are read (NOWAIT: see retryLocked). An empty
// selector is refused (it would remove every device); "hostname" selects
// them all explicitly.
func (s *Inventory) RemoveDevices(ctx context.Context, sel inventory.Selector) ([]string, error) {
	if sel.Empty() {
		return nil, fmt.Errorf("remove devices: refusing an empty selector, which would remove every device: %w", errkind.Invalid)
	}
	where, args, err := pushdown(sel)
	if err != nil {
		return nil, err
	}
	var hosts []string
	err = retryLocked(ctx, func() error {
		hosts = nil
		return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			var ids []int64
			rows, _ := tx.Query(ctx, `SELECT d.id, `+deviceColumns+deviceFrom+where+` ORDER BY o.code COLLATE "C", d.hostname COLLATE "C" FOR UPDATE OF d NOWAIT`, args...)
			for rows.Next() {
				var id int64
				d := new(inventory.Device)
				if err := scanDevice(rows, d, &id); err != nil {
					rows.Close()
					return fmt.Errorf("remove devices: %w", err)
				}
				if sel.Matches(d) {
					ids, hosts = append(ids, id), append(hosts, d.Hostname)
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return fmt.Errorf("remove devices: %w", err)
			}
			if len(ids) == 0 {
				return nil
			}
			if _, err := tx.Exec(ctx, `DELETE FROM devices WHERE id = ANY($1)`, ids); err != nil {
				var pe *pgconn.PgError
				if errors.As(err, &pe) && pe.Code == "23503" { // foreign_key_violation
					return fmt.Errorf("remove devices: other records refer to them: %w", errkind.InUse)
				}
				return fmt.Errorf("remove devices: %w", err)
			}
			return nil
		})
	})
	if err != nil {
		return nil, err
	}
	return hosts, nil
}

// CountByOrgAndBuild counts devices per organisation and observed build
// (the zero Version for an unknown build), for summaries.
func (s *Inventory) CountByOrgAndBuild(ctx context.Context) ([]inventory.BuildCount, error) {
	// From the rollup (a key's count is the sum of its signed rows; build
	// key 0 is a build never observed): its size follows organisations
	// and builds, not the devices.
	rows, _ := s.pool.Query(ctx, `SELECT o.code, c.build, coalesce(c.n, 0) FROM organisations o
		LEFT JOIN (SELECT org_id, nullif(os_build_key, 0) AS build, sum(devices)::bigint AS n FROM device_rollup
			GROUP BY org_id, build HAVING sum(devices) > 0) c ON c.org_id = o.id
		ORDER BY o.code COLLATE "C", c.build NULLS FIRST`)
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (inventory.BuildCount, error) {
		var c inventory.BuildCount
		var key *int64
		err := row.Scan(&c.Org, &key, &c.Devices)
		if key != nil {
			c.Build = cohortrow.VersionFromKey(*key)
		}
		return c, err
	})
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	return out, nil
}

// LastSeen returns when each of hosts was last seen, keyed by the hostname
// as given (the zero time when it never was); hosts not in the inventory
// are left out. One query, its cost following len(hosts), not the estate.
func (s *Inventory) LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error) {
	out := make(map[string]time.Time, len(hosts))
	if len(hosts) == 0 {
		return out, nil
	}
	given := make(map[string][]string, len(hosts)) // normalised -> as given
	norm := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n := inventory.NormaliseHostname(h)
		if _, ok := given[n]; !ok {
			norm = append(norm, n)
		}
		given[n] = append(given[n], h)
	}
	var h string
	var seen *time.Time
	rows, _ := s.pool.Query(ctx, `SELECT hostname, last_seen FROM devices WHERE hostname = ANY($1)`, norm)
	_, err := pgx.ForEachRow(rows, []any{&h, &seen}, func() error {
		for _, g := range given[h] {
			out[g] = fromNull(seen)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("last seen: %w", err)
	}
	return out, nil
}

// RecordObservation merges facts observed on a device (keeping, per fact,
// the newest observation) and marks it seen at seen.
func (s *Inventory) RecordObservation(ctx context.Context, hostname string, f inventory.Facts, seen time.Time) error {
	return s.RecordObservations(ctx, []inventory.Observation{{Hostname: hostname, Facts: f, Seen: seen}})
}

// RecordObservations records many observations in one transaction. The
// devices are locked (NOWAIT: see retryLocked) and read under the lock, so
// observations of one device from several nodes, or an import's changes
// to it, merge rather than overwrite one another; the changed devices are
// written by one statement.
func (s *Inventory) RecordObservations(ctx context.Context, obs []inventory.Observation) error {
	if len(obs) == 0 {
		return nil
	}
	hosts := make([]string, len(obs))
	for i := range obs {
		hosts[i] = inventory.NormaliseHostname(obs[i].Hostname)
	}
	uniq := slices.Clone(hosts)
	slices.Sort(uniq)
	uniq = slices.Compact(uniq)
	now := stamp(s.now())
	return retryLocked(ctx, func() error { return s.recordObservations(ctx, obs, hosts, uniq, now) })
}

// retryLocked runs a short transaction over devices, attempt, again while
// it fails because a device it would lock is held by another (it locks
// them NOWAIT) or because PostgreSQL broke a deadlock by aborting it.
//
// An import locks the devices it merges into in the order of its file,
// and holds them until it commits: a short writer that waited for one of
// them while holding others could deadlock with it, and PostgreSQL might
// then abort the import. Locking NOWAIT, a short writer never waits while
// it holds a device; it lets go of all, and tries again a little later,
// until ctx ends.
func retryLocked(ctx context.Context, attempt func() error) error {
	wait := 10 * time.Millisecond
	for {
		err := attempt()
		if !retryable(err) {
			return err
		}
		// Jitter, so that two writers that met do not meet again.
		t := time.NewTimer(wait/2 + rand.N(wait))
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (waiting for devices another change holds: %w)", ctx.Err(), err)
		case <-t.C:
		}
		wait = min(2*wait, time.Second)
	}
}

// retryable reports whether err is PostgreSQL's lock_not_available (a
// NOWAIT lock refused), deadlock_detected or serialization_failure, or the
// watched updates' lock not taken at once (errWatchBusy): the transaction
// was rolled back and may be run again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.Is(err, errWatchBusy) || errors.As(err, &pe) && (pe.Code == "55P03" || pe.Code == "40P01" || pe.Code == "40001")
}

// recordObservations is one attempt of RecordObservations, hosts being
// the observations' normalised hostnames and uniq the same sorted, once
// each.
func (s *Inventory) recordObservations(ctx context.Context, obs []inventory.Observation, hosts, uniq []string, now time.Time) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		watched, err := tryShareWatched(ctx, tx)
		if err != nil {
			return err
		}
		type held struct {
			id      int64
			d       inventory.Device
			changed bool
		}
		devs := make(map[string]*held, len(uniq))
		rows, _ := tx.Query(ctx, `SELECT d.id, `+deviceColumns+deviceFrom+` WHERE d.hostname = ANY($1)
			ORDER BY d.hostname COLLATE "C" FOR NO KEY UPDATE OF d NOWAIT`, uniq)
		for rows.Next() {
			h := new(held)
			if err := scanDevice(rows, &h.d, &h.id); err != nil {
				rows.Close()
				return fmt.Errorf("record observations: %w", err)
			}
			devs[h.d.Hostname] = h
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("record observations: %w", err)
		}
		for i := range obs {
			h, ok := devs[hosts[i]]
			if !ok {
				return fmt.Errorf("device %s: %w", hosts[i], errkind.NotFound)
			}
			if h.d.Facts.Merge(&obs[i].Facts) {
				h.changed = true
			}
			if obs[i].Seen.After(h.d.LastSeen) {
				h.d.LastSeen, h.changed = obs[i].Seen, true
			}
		}
		var (
			ids              []int64
			facts, kbs       []*string
			builds           []*int64
			seens, observeds []*time.Time
		)
		for _, host := range uniq {
			h := devs[host]
			if !h.changed {
				continue
			}
			r := encodeDevice(&h.d, watched)
			ids, facts, builds = append(ids, h.id), append(facts, &r.facts), append(builds, r.build)
			seens, kbs, observeds = append(seens, r.lastSeen), append(kbs, r.watched), append(observeds, r.observed)
		}
		if len(ids) == 0 {
			return nil
		}
		_, err = tx.Exec(ctx, `UPDATE devices d SET facts = u.facts, os_build_key = u.build, last_seen = u.seen, watched_kbs = u.kbs,
				observed_at = u.observed, updated_at = $7
			FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::timestamptz[], $5::text[], $6::timestamptz[])
				AS u (id, facts, build, seen, kbs, observed)
			WHERE d.id = u.id`, ids, facts, builds, seens, kbs, observeds, now)
		if err != nil {
			return fmt.Errorf("record observations: %w", err)
		}
		return nil
	})
}

// encodedRow is a device's observed columns as stored.
type encodedRow struct {
	build    *int64
	facts    string
	lastSeen *time.Time
	watched  *string
	observed *time.Time
}

// encodeDevice encodes a device's observed columns, its watched updates
// among watched.
func encodeDevice(d *inventory.Device, watched map[string]bool) encodedRow {
	r := encodedRow{facts: string(factsdoc.Append(make([]byte, 0, 320), &d.Facts)), lastSeen: nullTime(d.LastSeen)}
	if d.Facts.Known(inventory.FactOSBuild) {
		k := d.Facts.OSBuild.Key()
		r.build = &k
	}
	r.watched, r.observed = rollupColumns(&d.Facts, watched)
	return r
}
