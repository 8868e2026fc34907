package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/internal/factsdoc"
	"github.com/ringmaster-fleet/ringmaster/internal/sqltx"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Import upserts every record of src in one transaction: all rows or none.
// On a bad row, or when DryRun is set, the transaction is rolled back and
// the database is left as it was.
//
// When the devices table is empty (a first load, the common case for a large
// estate) its indexes are dropped for the load and rebuilt before commit:
// sorting once is several times faster than maintaining a B-tree row by row,
// and duplicates within the file are caught by inventory.Import itself.
func (s *Inventory) Import(ctx context.Context, src inventory.RecordSource, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	if opts.Now.IsZero() {
		opts.Now = s.now()
	}
	opts.Now = opts.Now.UTC().Truncate(time.Microsecond)
	opts.KeepCounting = opts.KeepCounting || opts.DryRun
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return inventory.ImportResult{}, err
	}
	defer conn.Close()
	if restore, ok := s.bulkJournal(ctx, conn); ok {
		defer restore()
	}
	// The transaction is begun without ctx's cancellation: database/sql
	// would roll it back from its own goroutine the moment ctx ends, while
	// flush may be writing through the driver connection (conn.Raw), which
	// that rollback does not wait for; those rows would then land outside
	// any transaction. Cancellation is honoured between batches and by
	// each statement's own ctx instead, and the deferred Rollback runs
	// after the last write.
	tx, err := conn.BeginTx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // no-op after Commit

	it := &importTx{conn: conn, tx: tx, orgIDs: map[string]int64{}, ins: map[int]driver.Stmt{}, now: opts.Now, stamp: micros(opts.Now)}
	if it.watched, err = watchedKBs(ctx, tx); err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	var any int
	err = tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM devices LIMIT 1) AS t`).Scan(&any)
	if err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	var indexes []string
	if any == 0 {
		it.bulk = true
		it.rollup = newRollupCounter()
		if indexes, err = dropIndexes(ctx, tx, "devices"); err != nil {
			return inventory.ImportResult{}, err
		}
	}
	if err := it.prepare(ctx); err != nil {
		return inventory.ImportResult{}, err
	}
	defer it.close() // idempotent; closes early on the error paths

	start := time.Now()
	res, err := inventory.Import(ctx, src, it, opts)
	if err == nil {
		err = it.flush(ctx)
	}
	it.close()
	if err != nil {
		return res, err
	}
	loaded := time.Now()
	s.log.Debug("import rows written", "took", loaded.Sub(start))
	if len(indexes) > 0 {
		// SQLite's sorter keeps up to a page cache's worth of keys in memory
		// per index build; a smaller cache bounds the peak memory.
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size=-%d`, bulkIndexCacheKiB)); err != nil {
			return res, err
		}
		// Let the sorter use a helper thread (the reading goroutine is done).
		if _, err := tx.ExecContext(ctx, `PRAGMA threads=2`); err != nil {
			return res, err
		}
		for _, ddl := range indexes {
			if _, err := tx.ExecContext(ctx, ddl); err != nil {
				return res, fmt.Errorf("rebuild index: %w", err)
			}
		}
		if err := it.writeRollup(ctx); err != nil {
			return res, err
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf(`PRAGMA cache_size=-%d`, s.cacheKiB)); err != nil {
			return res, err
		}
	}
	s.log.Debug("import indexes rebuilt", "took", time.Since(loaded))
	if opts.DryRun {
		return res, nil // deferred Rollback discards everything
	}
	if err := ctx.Err(); err != nil { // cancelled after the last batch: nothing is kept
		return res, err
	}
	if err := sqltx.Commit(ctx, tx); err != nil {
		return res, fmt.Errorf("commit import: %w", err)
	}
	s.log.Info("import committed", "new", res.New, "updated", res.Updated, "unchanged", res.Unchanged,
		"created_orgs", len(res.CreatedOrgs), "bulk", it.bulk, "took", time.Since(start))
	return res, nil
}

// bulkIndexCacheKiB is the page cache while rebuilding indexes after a bulk load.
const bulkIndexCacheKiB = 8 << 10

// bulkJournal switches an empty store from WAL to a rollback journal for a
// first load, when no other connection has the database open. In WAL mode
// every page of a large load is written twice (to the WAL, then to the
// database at checkpoint); with a rollback journal, pages of a table that was
// empty go straight to the database and the journal keeps only the few
// pre-existing pages, so the load stays all-or-nothing at half the writes.
// The returned func switches back to WAL. If the switch is refused (another
// connection, or a non-empty table) the load runs in WAL as usual.
func (s *Inventory) bulkJournal(ctx context.Context, conn *sql.Conn) (restore func(), ok bool) {
	var n int
	if err := conn.QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT 1 FROM devices LIMIT 1) AS t`).Scan(&n); err != nil || n > 0 {
		return nil, false
	}
	return rollbackJournal(ctx, conn, s.log)
}

// dropIndexes drops a table's explicit indexes and triggers and returns
// their DDL, read from the schema so it always matches the latest migration.
// (The rollup the triggers keep is rebuilt in one pass after a bulk load.)
func dropIndexes(ctx context.Context, tx *sql.Tx, table string) ([]string, error) {
	rows, err := tx.QueryContext(ctx, `SELECT type, name, sql FROM sqlite_master
		WHERE type IN ('index', 'trigger') AND tbl_name = ? AND sql IS NOT NULL ORDER BY type, name`, table)
	if err != nil {
		return nil, fmt.Errorf("read indexes of %s: %w", table, err)
	}
	var kinds, names, ddl []string
	for rows.Next() {
		var k, n, q string
		if err := rows.Scan(&k, &n, &q); err != nil {
			rows.Close()
			return nil, err
		}
		kinds, names, ddl = append(kinds, k), append(names, n), append(ddl, q)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i, n := range names {
		if _, err := tx.ExecContext(ctx, `DROP `+strings.ToUpper(kinds[i])+` `+quoteIdent(n)); err != nil {
			return nil, fmt.Errorf("drop %s %s: %w", kinds[i], n, err)
		}
	}
	return ddl, nil
}

func quoteIdent(s string) string { return `"` + s + `"` }

// importTx adapts one SQL transaction to inventory.ImportTx.
//
// New devices are buffered and written in batches through the driver
// connection itself (sql.Conn.Raw), inside the same transaction: for the one
// statement that runs a million times, database/sql's per-call locking and
// argument conversion cost as much as a third of SQLite's own work.
type importTx struct {
	conn *sql.Conn
	tx   *sql.Tx
	bulk bool // the table was empty: no device can exist yet
	// watched are the updates reports look for; read-only once the import
	// starts (Prepare reads it on another goroutine).
	watched map[string]bool
	// rollup counts the devices a bulk load inserts (its triggers are
	// dropped) per rollup key, written once at the end.
	rollup *rollupCounter
	orgIDs map[string]int64
	now    time.Time
	stamp  int64 // now, in storage form

	sel, upd *sql.Stmt
	ins      map[int]driver.Stmt // by rows per statement; on conn, used only inside conn.Raw
	pending  []pendingInsert
	args     []driver.NamedValue
}

type pendingInsert struct {
	hostname, site, address, credential string
	orgID                               int64
	row                                 *encodedRow
}

const insertBatch = 512

var _ inventory.ImportTx = (*importTx)(nil)

func (t *importTx) prepare(ctx context.Context) error {
	var err error
	if t.sel, err = t.tx.PrepareContext(ctx, `SELECT `+deviceColumns+` FROM devices d JOIN organisations o ON o.id = d.org_id WHERE d.hostname = ?`); err != nil {
		return err
	}
	t.upd, err = t.tx.PrepareContext(ctx, `UPDATE devices SET org_id = ?, site = ?, address = ?, credential = ?, labels = ?,
		os_build_key = ?, facts = ?, last_seen = ?, watched_kbs = ?, observed_at = ?, updated_at = ? WHERE hostname = ?`)
	return err
}

// insertSQL is a multi-row insert of n devices. The import's timestamp is
// the same for every row, so it is a literal (an integer of ours, nothing
// from the file). Empty text goes as NULL, which binds for free; COALESCE
// stores it as the empty string.
func (t *importTx) insertSQL(n int) string {
	stamp := strconv.FormatInt(t.stamp, 10)
	row := `(?, ?, ?, COALESCE(?, ''), COALESCE(?, ''), COALESCE(?, ''), ?, ?, ?, ?, ?, ` + stamp + `, ` + stamp + `)`
	var b strings.Builder
	b.WriteString(`INSERT INTO devices (hostname, org_id, site, address, credential, labels, os_build_key, facts, last_seen,
		watched_kbs, observed_at, created_at, updated_at) VALUES `)
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// insertParams is how many parameters a row of insertSQL has.
const insertParams = 11

// rowsPerInsert is how many devices one INSERT statement carries: the
// per-statement cost of stepping and resetting is shared between them.
const rowsPerInsert = 16

func (t *importTx) close() {
	for _, s := range []*sql.Stmt{t.sel, t.upd} {
		if s != nil {
			s.Close()
		}
	}
	if len(t.ins) > 0 {
		_ = t.conn.Raw(func(any) error {
			for _, st := range t.ins {
				st.Close()
			}
			return nil
		})
		clear(t.ins)
	}
}

// flush writes the buffered inserts, rowsPerInsert devices a statement.
func (t *importTx) flush(ctx context.Context) error {
	if len(t.pending) == 0 {
		return nil
	}
	err := t.conn.Raw(func(dc any) error {
		// No cancellation per statement: modernc starts a watcher goroutine
		// for each cancellable call. inventory.Import checks ctx between
		// batches, so a cancel still stops the import promptly.
		nc := context.WithoutCancel(ctx)
		for start := 0; start < len(t.pending); start += rowsPerInsert {
			chunk := t.pending[start:min(start+rowsPerInsert, len(t.pending))]
			ex, err := t.insertStmt(nc, dc, len(chunk))
			if err != nil {
				return err
			}
			t.args = t.args[:0]
			for i := range chunk {
				p := &chunk[i]
				o := insertParams * i
				t.args = append(t.args,
					driver.NamedValue{Ordinal: o + 1, Value: p.hostname},
					driver.NamedValue{Ordinal: o + 2, Value: p.orgID},
					driver.NamedValue{Ordinal: o + 3, Value: p.site},
					driver.NamedValue{Ordinal: o + 4, Value: nullIfEmpty(p.address)},
					driver.NamedValue{Ordinal: o + 5, Value: nullIfEmpty(p.credential)},
					driver.NamedValue{Ordinal: o + 6, Value: nullIfEmpty(p.row.labels)},
					driver.NamedValue{Ordinal: o + 7, Value: p.row.build},
					driver.NamedValue{Ordinal: o + 8, Value: p.row.facts},
					driver.NamedValue{Ordinal: o + 9, Value: p.row.lastSeen},
					driver.NamedValue{Ordinal: o + 10, Value: p.row.watched},
					driver.NamedValue{Ordinal: o + 11, Value: p.row.observed},
				)
			}
			if _, err := ex.ExecContext(nc, t.args); err != nil {
				return fmt.Errorf("insert devices %s to %s: %w", chunk[0].hostname, chunk[len(chunk)-1].hostname, err)
			}
		}
		return nil
	})
	t.pending = t.pending[:0]
	return err
}

// insertStmt returns the prepared insert for n rows, preparing it on the
// driver connection the first time.
func (t *importTx) insertStmt(ctx context.Context, dc any, n int) (driver.StmtExecContext, error) {
	st, ok := t.ins[n]
	if !ok {
		pc, ok := dc.(driver.ConnPrepareContext)
		if !ok {
			return nil, fmt.Errorf("sqlite driver cannot prepare with a context")
		}
		var err error
		if st, err = pc.PrepareContext(ctx, t.insertSQL(n)); err != nil {
			return nil, err
		}
		t.ins[n] = st
	}
	ex, ok := st.(driver.StmtExecContext)
	if !ok {
		return nil, fmt.Errorf("sqlite driver statement cannot execute with a context")
	}
	return ex, nil
}

func (t *importTx) Organisations(ctx context.Context) ([]inventory.Organisation, error) {
	if err := t.flush(ctx); err != nil {
		return nil, err
	}
	rows, err := queryOrgs(ctx, t.tx, "")
	if err != nil {
		return nil, err
	}
	out := make([]inventory.Organisation, len(rows))
	for i, r := range rows {
		t.orgIDs[r.Code] = r.id
		out[i] = r.Organisation
	}
	return out, nil
}

func (t *importTx) CreateOrganisation(ctx context.Context, o *inventory.Organisation) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	if err := createOrg(ctx, t.tx, o, t.now); err != nil {
		return err
	}
	var id int64
	if err := t.tx.QueryRowContext(ctx, `SELECT id FROM organisations WHERE code = ?`, o.Code).Scan(&id); err != nil {
		return err
	}
	t.orgIDs[o.Code] = id
	return nil
}

func (t *importTx) Device(ctx context.Context, hostname string) (inventory.Device, bool, error) {
	var d inventory.Device
	if t.bulk {
		return d, false, nil
	}
	if err := t.flush(ctx); err != nil {
		return d, false, err
	}
	err := scanDevice(t.sel.QueryRowContext(context.WithoutCancel(ctx), hostname), &d)
	if errors.Is(err, sql.ErrNoRows) {
		return d, false, nil
	}
	return d, err == nil, err
}

// encodedRow is a device's column values that need no transaction.
type encodedRow struct {
	build    any // int64 or nil
	facts    string
	lastSeen any // int64 or nil
	labels   string
	watched  any // string or nil
	observed any // int64 or nil
}

var _ inventory.Preparer = (*importTx)(nil)

// Prepare encodes a device's columns; inventory.Import calls it on the
// goroutine that reads the file, so encoding overlaps with writing.
func (t *importTx) Prepare(d *inventory.Device) any {
	r := &encodedRow{labels: d.Labels.String()}
	if d.Facts.Known(inventory.FactOSBuild) {
		r.build = d.Facts.OSBuild.Key()
	}
	r.facts = string(factsdoc.Append(make([]byte, 0, 320), &d.Facts))
	if !d.LastSeen.IsZero() {
		r.lastSeen = micros(d.LastSeen)
	}
	r.watched, r.observed = rollupColumns(&d.Facts, t.watched)
	return r
}

func (t *importTx) row(d *inventory.Device, prepared any) (int64, *encodedRow, error) {
	orgID, ok := t.orgIDs[d.Org]
	if !ok {
		return 0, nil, fmt.Errorf("organisation %s: %w", d.Org, errkind.NotFound)
	}
	r, ok := prepared.(*encodedRow)
	if !ok || r == nil {
		r = t.Prepare(d).(*encodedRow)
	}
	return orgID, r, nil
}

// InsertDevice buffers a new device; it is written by the next flush.
func (t *importTx) InsertDevice(ctx context.Context, d *inventory.Device, prepared any) error {
	orgID, r, err := t.row(d, prepared)
	if err != nil {
		return err
	}
	t.pending = append(t.pending, pendingInsert{hostname: d.Hostname, site: d.Site, address: d.Address, credential: d.Credential, orgID: orgID, row: r})
	if t.bulk {
		t.rollup.add(orgID, d.Site, r)
	}
	if len(t.pending) >= insertBatch {
		return t.flush(ctx)
	}
	return nil
}

// UpdateDevice rewrites a stored device.
func (t *importTx) UpdateDevice(ctx context.Context, d *inventory.Device) error {
	if err := t.flush(ctx); err != nil {
		return err
	}
	orgID, r, err := t.row(d, nil)
	if err != nil {
		return err
	}
	_, err = t.upd.ExecContext(context.WithoutCancel(ctx), orgID, d.Site, d.Address, d.Credential,
		r.labels, r.build, r.facts, r.lastSeen, r.watched, r.observed, t.stamp, d.Hostname)
	if err != nil {
		return fmt.Errorf("update device %s: %w", d.Hostname, err)
	}
	return nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
