package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/cohortrow"
	"github.com/ringmaster-fleet/ringmaster/internal/factsdoc"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

const deviceColumns = `d.hostname, o.code, d.site, d.address, d.credential, d.labels, d.facts, d.last_seen, d.created_at, d.updated_at`

func scanDevice(rows interface{ Scan(...any) error }, d *inventory.Device) error {
	var labels, facts string
	var lastSeen, created, updated sql.NullInt64
	if err := rows.Scan(&d.Hostname, &d.Org, &d.Site, &d.Address, &d.Credential, &labels, &facts, &lastSeen, &created, &updated); err != nil {
		return err
	}
	var err error
	if d.Labels, err = inventory.ParseLabels(labels); err != nil {
		return fmt.Errorf("device %s: labels: %w", d.Hostname, err)
	}
	if err := factsdoc.Decode(facts, &d.Facts); err != nil {
		return fmt.Errorf("device %s: %w", d.Hostname, err)
	}
	d.LastSeen, d.CreatedAt, d.UpdatedAt = fromMicros(lastSeen), fromMicros(created), fromMicros(updated)
	return nil
}

// Device returns the device with this hostname (case-insensitive).
func (s *Inventory) Device(ctx context.Context, hostname string) (inventory.Device, error) {
	h := inventory.NormaliseHostname(hostname)
	var d inventory.Device
	row := s.db.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN organisations o ON o.id = d.org_id WHERE d.hostname = ?`, h)
	if err := scanDevice(row, &d); errors.Is(err, sql.ErrNoRows) {
		return d, fmt.Errorf("device %s: %w", h, errkind.NotFound)
	} else if err != nil {
		return d, fmt.Errorf("device %s: %w", h, err)
	}
	return d, nil
}

// Devices yields the devices the selector matches, ordered by organisation
// then hostname. The store narrows the query with the requirements it can
// express in SQL; Selector.Matches decides. Stop early by breaking the loop.
// Do not call the store from inside the loop: it holds the connection.
func (s *Inventory) Devices(ctx context.Context, sel inventory.Selector) iter.Seq2[*inventory.Device, error] {
	return func(yield func(*inventory.Device, error) bool) {
		where, args, err := s.pushdown(ctx, sel)
		if err != nil {
			yield(nil, err)
			return
		}
		// A scan reads each page once: a small page cache on its own
		// connection for it, so that reading the estate (a national
		// campaign's targets, two readers at once) does not fill the
		// usual cache on every connection it passes through.
		conn, err := s.rdb.Conn(ctx)
		if err != nil {
			yield(nil, fmt.Errorf("list devices: %w", err))
			return
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size=-%d`, scanCacheKiB)); err != nil {
			yield(nil, fmt.Errorf("list devices: %w", err))
			return
		}
		defer conn.ExecContext(context.WithoutCancel(ctx), fmt.Sprintf(`PRAGMA cache_size=-%d`, s.cacheKiB))
		rows, err := conn.QueryContext(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN organisations o ON o.id = d.org_id`+where+` ORDER BY o.code, d.hostname`, args...)
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

// scanCacheKiB is the page cache of a connection while Devices reads.
const scanCacheKiB = 4 << 10

// maxPushdownValues is the most values of one requirement pushdown puts in
// an IN list. A longer list (alert remediate names every exposed device)
// is left to Selector.Matches, which looks a long list up as a set: SQLite
// takes at most 32,766 parameters in a statement, and the four lists
// pushdown can write stay under it.
const maxPushdownValues = 5000

// columns name, in a query, what pushdown's conditions are written on:
// the devices table's or the rollup's (which has no hostname, and keeps an
// unknown build as 0).
type columns struct {
	org, hostname, site, build, noBuild string
}

var (
	onDevices = columns{org: "o.code", hostname: "d.hostname", site: "d.site", build: "d.os_build_key", noBuild: "d.os_build_key IS NULL"}
	onRollup  = columns{org: "o.code", site: "r.site", build: "r.os_build_key", noBuild: "r.os_build_key = 0"}
)

// pushdown turns the selector requirements that SQL can answer exactly or
// as a superset into a WHERE clause over the devices table. It must never
// exclude a device that Selector.Matches would accept.
func (s *Inventory) pushdown(ctx context.Context, sel inventory.Selector) (string, []any, error) {
	return pushdownOn(sel, onDevices)
}

// pushdownOn is pushdown's conditions written on cols.
func pushdownOn(sel inventory.Selector, cols columns) (string, []any, error) {
	var conds []string
	var args []any
	in := func(col string, vals []string, not bool) {
		if len(vals) > maxPushdownValues {
			return // Matches alone decides: a superset is always allowed
		}
		op := " IN ("
		if not {
			op = " NOT IN ("
		}
		conds = append(conds, col+op+strings.TrimSuffix(strings.Repeat("?,", len(vals)), ",")+")")
		for _, v := range vals {
			args = append(args, v)
		}
	}
	for _, r := range sel.Requirements() {
		switch {
		case r.Key == "org" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn):
			in(cols.org, r.Values, false)
		case r.Key == "org" && (r.Op == inventory.OpNe || r.Op == inventory.OpNotIn):
			in(cols.org, r.Values, true)
		case r.Key == "hostname" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn) && cols.hostname != "":
			in(cols.hostname, r.Values, false)
		case r.Key == "site" && (r.Op == inventory.OpEq || r.Op == inventory.OpIn) && allASCII(r.Values):
			lower := make([]string, len(r.Values))
			for i, v := range r.Values {
				lower[i] = strings.ToLower(v)
			}
			in("LOWER("+cols.site+")", lower, false)
		case r.Key == "build" && r.Op == inventory.OpNotExists:
			conds = append(conds, cols.noBuild)
		case r.Key == "build" && (r.Op == inventory.OpLt || r.Op == inventory.OpLe || r.Op == inventory.OpGt || r.Op == inventory.OpGe):
			v, _, err := inventory.ParseVersion(r.Values[0])
			if err != nil {
				return "", nil, err
			}
			conds = append(conds, cols.build+" "+string(r.Op)+" ?")
			args = append(args, v.Key())
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
// transaction, and returns their hostnames. An empty selector is refused
// (it would remove every device); "hostname" selects them all explicitly.
func (s *Inventory) RemoveDevices(ctx context.Context, sel inventory.Selector) ([]string, error) {
	if sel.Empty() {
		return nil, fmt.Errorf("remove devices: refusing an empty selector, which would remove every device: %w", errkind.Invalid)
	}
	var hosts []string
	for d, err := range s.Devices(ctx, sel) {
		if err != nil {
			return nil, err
		}
		hosts = append(hosts, d.Hostname)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	stmt, err := tx.PrepareContext(ctx, `DELETE FROM devices WHERE hostname = ?`)
	if err != nil {
		return nil, err
	}
	defer stmt.Close()
	for _, h := range hosts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if _, err := stmt.ExecContext(ctx, h); err != nil {
			if constraint(err) == errkind.InUse {
				return nil, fmt.Errorf("remove device %s: other records refer to it: %w", h, errkind.InUse)
			}
			return nil, fmt.Errorf("remove device %s: %w", h, err)
		}
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return nil, err
	}
	return hosts, nil
}

// CountByOrgAndBuild counts devices per organisation and observed build
// (the zero Version for an unknown build), for summaries.
func (s *Inventory) CountByOrgAndBuild(ctx context.Context) ([]inventory.BuildCount, error) {
	// From the rollup (its build key 0 is a build never observed): its
	// size follows organisations and builds, not the devices.
	rows, err := s.db.QueryContext(ctx, `SELECT o.code, c.build, coalesce(c.n, 0) FROM organisations o
		LEFT JOIN (SELECT org_id, nullif(os_build_key, 0) AS build, sum(devices) AS n FROM device_rollup
			GROUP BY org_id, build HAVING sum(devices) > 0) c ON c.org_id = o.id
		ORDER BY o.code, c.build`)
	if err != nil {
		return nil, fmt.Errorf("count devices: %w", err)
	}
	defer rows.Close()
	var out []inventory.BuildCount
	for rows.Next() {
		var c inventory.BuildCount
		var key sql.NullInt64
		if err := rows.Scan(&c.Org, &key, &c.Devices); err != nil {
			return nil, fmt.Errorf("count devices: %w", err)
		}
		if key.Valid {
			c.Build = cohortrow.VersionFromKey(key.Int64)
		}
		out = append(out, c)
	}
	return out, rows.Err()
}

// RecordObservation merges facts observed on a device (keeping, per fact,
// the newest observation) and marks it seen at seen.
func (s *Inventory) RecordObservation(ctx context.Context, hostname string, f inventory.Facts, seen time.Time) error {
	// Workers' runs each record one as they finish: they share
	// transactions with one another and with the workers' campaign writes.
	return s.group.run(ctx, func(ctx context.Context, tx *sql.Tx) error {
		watched, err := watchedKBs(ctx, tx)
		if err != nil {
			return err
		}
		return s.recordObservation(ctx, tx, hostname, f, seen, watched)
	})
}

// RecordObservations records many observations in one transaction.
func (s *Inventory) RecordObservations(ctx context.Context, obs []inventory.Observation) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit
	watched, err := watchedKBs(ctx, tx)
	if err != nil {
		return err
	}
	for i := range obs {
		if err := s.recordObservation(ctx, tx, obs[i].Hostname, obs[i].Facts, obs[i].Seen, watched); err != nil {
			return err
		}
	}
	return sqltx.Commit(ctx, tx)
}

func (s *Inventory) recordObservation(ctx context.Context, tx *sql.Tx, hostname string, f inventory.Facts, seen time.Time, watched map[string]bool) error {
	h := inventory.NormaliseHostname(hostname)
	var d inventory.Device
	row := tx.QueryRowContext(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN organisations o ON o.id = d.org_id WHERE d.hostname = ?`, h)
	if err := scanDevice(row, &d); errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("device %s: %w", h, errkind.NotFound)
	} else if err != nil {
		return fmt.Errorf("device %s: %w", h, err)
	}
	changed := d.Facts.Merge(&f)
	if seen.After(d.LastSeen) {
		d.LastSeen, changed = seen, true
	}
	if !changed {
		return nil
	}
	var build any
	if d.Facts.Known(inventory.FactOSBuild) {
		build = d.Facts.OSBuild.Key()
	}
	kbs, observed := rollupColumns(&d.Facts, watched)
	_, err := tx.ExecContext(ctx, `UPDATE devices SET facts = ?, os_build_key = ?, last_seen = ?, watched_kbs = ?, observed_at = ?, updated_at = ?
		WHERE hostname = ?`, string(factsdoc.Append(nil, &d.Facts)), build, micros(d.LastSeen), kbs, observed, micros(s.now()), h)
	if err != nil {
		return fmt.Errorf("record observation of %s: %w", h, err)
	}
	return nil
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

// LastSeen returns when each of hosts was last seen, keyed by the hostname
// as given (the zero time when it never was); hosts not in the inventory
// are left out. It reads in chunks of 500, so its cost follows len(hosts),
// not the estate.
func (s *Inventory) LastSeen(ctx context.Context, hosts []string) (map[string]time.Time, error) {
	const chunk = 500
	out := make(map[string]time.Time, len(hosts))
	for start := 0; start < len(hosts); start += chunk {
		part := hosts[start:min(start+chunk, len(hosts))]
		given := make(map[string][]string, len(part)) // normalised -> as given
		args := make([]any, 0, len(part))
		for _, h := range part {
			n := inventory.NormaliseHostname(h)
			if _, ok := given[n]; !ok {
				args = append(args, n)
			}
			given[n] = append(given[n], h)
		}
		rows, err := s.rdb.QueryContext(ctx, `SELECT hostname, last_seen FROM devices WHERE hostname IN (?`+strings.Repeat(", ?", len(args)-1)+`)`, args...)
		if err != nil {
			return nil, fmt.Errorf("last seen: %w", err)
		}
		for rows.Next() {
			var h string
			var seen sql.NullInt64
			if err := rows.Scan(&h, &seen); err != nil {
				rows.Close()
				return nil, fmt.Errorf("last seen: %w", err)
			}
			for _, g := range given[h] {
				out[g] = fromMicros(seen)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("last seen: %w", err)
		}
	}
	return out, nil
}
