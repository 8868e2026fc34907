package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/inventory"
)

// Import upserts every record of src in one transaction: all rows or none.
// On a bad row, or when DryRun is set, the transaction is rolled back and
// the database is left as it was.
//
// The devices to write, new and updated alike, are streamed with COPY into
// a temporary staging table, then written by one INSERT ... ON CONFLICT:
// the rollup's statement triggers then count the whole import in one pass.
// The stored devices an import merges into are read in batches (the
// hostnames the file's reader has prepared ahead), locked until the
// commit so that observations recorded meanwhile by other nodes are
// neither lost nor overwritten. Into an empty table no device is looked
// up at all.
//
// Two imports may run at once: an organisation both create is created
// once, and a device both add is written by the one that commits last
// (its counts may call it new), unless the last is bounded to a scope
// the device's organisation is outside (ImportOptions.InScope): that one
// fails with errkind.Conflict. Devices are written in hostname order.
// Two imports of files that list the same stored devices in different
// orders can deadlock over them, and PostgreSQL then fails one (SQLSTATE
// 40P01, nothing written): run it again. Shorter writers (observations,
// labels, removals) never wait for a device while holding another, so an
// import does not deadlock with them (see retryLocked). The import holds
// the watched updates' lock shared (see rollup.go), so an alert added
// meanwhile waits for it.
func (s *Inventory) Import(ctx context.Context, src inventory.RecordSource, opts inventory.ImportOptions) (inventory.ImportResult, error) {
	if opts.Now.IsZero() {
		opts.Now = s.now()
	}
	opts.Now = stamp(opts.Now)
	opts.KeepCounting = opts.KeepCounting || opts.DryRun
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	// After a cancellation the rollback must still reach the server
	// (else the connection, and what it holds, waits to be closed).
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // no-op after Commit

	it := &importTx{outer: ctx, tx: tx, orgIDs: map[string]int64{}, now: opts.Now, cache: map[string]*cached{}}
	if it.watched, err = shareWatched(ctx, tx); err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM devices)`).Scan(&exists); err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	it.empty = !exists
	if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE import_devices (
			hostname text NOT NULL, org_id bigint NOT NULL, site text NOT NULL, address text NOT NULL, credential text NOT NULL,
			labels text NOT NULL, os_build_key bigint, facts text NOT NULL, last_seen timestamptz, watched_kbs text,
			observed_at timestamptz) ON COMMIT DROP`); err != nil {
		return inventory.ImportResult{}, fmt.Errorf("begin import: %w", err)
	}
	res, err := inventory.Import(ctx, src, it, opts)
	if err == nil {
		err = it.flush(ctx)
	}
	if err != nil {
		return res, err
	}
	if it.staged > 0 {
		// A scoped import writes over its own organisations' devices only:
		// one another import added meanwhile (not there when looked up, so
		// not locked) is not taken, and the import fails whole.
		scope, err := scopeIDs(ctx, tx, opts.InScope)
		if err != nil {
			return res, err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO devices (hostname, org_id, site, address, credential, labels, os_build_key, facts,
				last_seen, watched_kbs, observed_at, created_at, updated_at)
			SELECT hostname, org_id, site, address, credential, labels, os_build_key, facts, last_seen, watched_kbs, observed_at, $1, $1
			FROM import_devices ORDER BY hostname COLLATE "C"
			ON CONFLICT (hostname) DO UPDATE SET org_id = excluded.org_id, site = excluded.site, address = excluded.address,
				credential = excluded.credential, labels = excluded.labels, os_build_key = excluded.os_build_key, facts = excluded.facts,
				last_seen = excluded.last_seen, watched_kbs = excluded.watched_kbs, observed_at = excluded.observed_at,
				updated_at = excluded.updated_at
			WHERE $2::bigint[] IS NULL OR devices.org_id = ANY($2::bigint[])`, opts.Now, scope)
		if err != nil {
			return res, fmt.Errorf("write imported devices: %w", err)
		}
		if tag.RowsAffected() != int64(it.staged) {
			return res, fmt.Errorf("write imported devices: %d of the file's hostnames became devices of organisations outside the scope while it was imported; nothing was written: %w",
				int64(it.staged)-tag.RowsAffected(), errkind.Conflict)
		}
	}
	if opts.DryRun {
		return res, nil // the deferred Rollback discards everything
	}
	if err := ctx.Err(); err != nil { // cancelled after the last batch: nothing is kept
		return res, err
	}
	if err := tx.Commit(ctx); err != nil {
		return res, fmt.Errorf("commit import: %w", err)
	}
	return res, nil
}

// scopeIDs are the ids of the organisations inScope covers, nil for
// every organisation (a nil inScope).
func scopeIDs(ctx context.Context, tx pgx.Tx, inScope func(string) bool) ([]int64, error) {
	if inScope == nil {
		return nil, nil
	}
	rows, _ := tx.Query(ctx, `SELECT id, code FROM organisations`)
	ids := []int64{}
	var id int64
	var code string
	_, err := pgx.ForEachRow(rows, []any{&id, &code}, func() error {
		if inScope(code) {
			ids = append(ids, id)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("write imported devices: the scope: %w", err)
	}
	return ids, nil
}

// importTx adapts one transaction to inventory.ImportTx.
type importTx struct {
	// outer is Import's context. inventory.Import hands the methods one
	// of its own, derived; a cancellation of the caller's is looked for
	// on outer as the rows are staged.
	outer context.Context
	tx    pgx.Tx
	empty bool // the devices table was empty: no device can be stored yet
	// watched are the updates reports look for; read-only once the import
	// starts (Prepare reads it on another goroutine).
	watched map[string]bool
	orgIDs  map[string]int64
	now     time.Time

	// rows are the devices to stage, written by flush with COPY.
	rows   [][]any
	staged int

	// ahead are the hostnames Prepare has seen that Device has not looked
	// up yet (Prepare runs on the file's reading goroutine, ahead of the
	// writes); cache the devices looked up with them, until Device asks.
	mu    sync.Mutex
	ahead []string
	cache map[string]*cached
}

// cached is a device looked up ahead: found or not.
type cached struct {
	d     inventory.Device
	found bool
}

// copyBatch is how many devices one COPY stages.
const copyBatch = 8192

// checkEvery is how many devices are staged between looks at whether the
// import was cancelled.
const checkEvery = 256

// lookupBatch is the most devices one look-up reads.
const lookupBatch = 2048

var (
	_ inventory.ImportTx = (*importTx)(nil)
	_ inventory.Preparer = (*importTx)(nil)
)

var stagingColumns = []string{"hostname", "org_id", "site", "address", "credential", "labels", "os_build_key", "facts", "last_seen",
	"watched_kbs", "observed_at"}

// flush stages the buffered devices with COPY.
func (t *importTx) flush(ctx context.Context) error {
	if len(t.rows) == 0 {
		return nil
	}
	n, err := t.tx.CopyFrom(ctx, pgx.Identifier{"import_devices"}, stagingColumns, pgx.CopyFromRows(t.rows))
	if err != nil {
		return fmt.Errorf("stage imported devices: %w", err)
	}
	t.staged += int(n)
	t.rows = t.rows[:0]
	return nil
}

func (t *importTx) Organisations(ctx context.Context) ([]inventory.Organisation, error) {
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

// CreateOrganisation creates an organisation the file names. One another
// import has created meanwhile is taken as it is.
func (t *importTx) CreateOrganisation(ctx context.Context, o *inventory.Organisation) error {
	o.Normalise()
	if err := o.Validate(); err != nil {
		return err
	}
	if o.CreatedAt.IsZero() {
		o.CreatedAt = t.now
	}
	var id int64
	err := t.tx.QueryRow(ctx, `INSERT INTO organisations (code, name, time_zone, tags, created_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (code) DO NOTHING RETURNING id`, o.Code, o.Name, o.TimeZone, strings.Join(o.Tags, ","), stamp(o.CreatedAt)).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		err = t.tx.QueryRow(ctx, `SELECT id FROM organisations WHERE code = $1`, o.Code).Scan(&id)
	}
	if err != nil {
		return fmt.Errorf("create organisation %s: %w", o.Code, err)
	}
	t.orgIDs[o.Code] = id
	return nil
}

// Device returns the stored device, looking it up with the hostnames
// prepared ahead of it.
func (t *importTx) Device(ctx context.Context, hostname string) (inventory.Device, bool, error) {
	if t.empty {
		return inventory.Device{}, false, nil
	}
	t.mu.Lock()
	c, ok := t.cache[hostname]
	var batch []string
	if ok {
		delete(t.cache, hostname)
	} else {
		batch = append(batch, hostname)
		for len(t.ahead) > 0 && len(batch) < lookupBatch {
			if h := t.ahead[0]; h != hostname {
				batch = append(batch, h)
			}
			t.ahead = t.ahead[1:]
		}
	}
	t.mu.Unlock()
	if ok {
		return c.d, c.found, nil
	}
	if err := t.outer.Err(); err != nil {
		return inventory.Device{}, false, err
	}
	found := make(map[string]*cached, len(batch))
	for _, h := range batch {
		found[h] = &cached{}
	}
	// Locked until the commit: the merge is written over what is read.
	rows, _ := t.tx.Query(ctx, `SELECT `+deviceColumns+deviceFrom+` WHERE d.hostname = ANY($1)
		ORDER BY d.hostname COLLATE "C" FOR NO KEY UPDATE OF d`, batch)
	for rows.Next() {
		var d inventory.Device
		if err := scanDevice(rows, &d); err != nil {
			rows.Close()
			return d, false, err
		}
		if c := found[d.Hostname]; c != nil {
			c.d, c.found = d, true
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return inventory.Device{}, false, fmt.Errorf("look up devices: %w", err)
	}
	c = found[hostname]
	delete(found, hostname)
	t.mu.Lock()
	for h, c := range found {
		t.cache[h] = c
	}
	t.mu.Unlock()
	return c.d, c.found, nil
}

// Prepare encodes a device's columns on the goroutine that reads the file,
// and queues its hostname for the next look-up.
func (t *importTx) Prepare(d *inventory.Device) any {
	r := encodeDevice(d, t.watched)
	if !t.empty {
		t.mu.Lock()
		t.ahead = append(t.ahead, d.Hostname)
		t.mu.Unlock()
	}
	return &r
}

// stage buffers a device to write, and flushes a full buffer.
func (t *importTx) stage(ctx context.Context, d *inventory.Device, prepared any) error {
	orgID, ok := t.orgIDs[d.Org]
	if !ok {
		return fmt.Errorf("organisation %s: %w", d.Org, errkind.NotFound)
	}
	r, ok := prepared.(*encodedRow)
	if !ok || r == nil {
		e := encodeDevice(d, t.watched)
		r = &e
	}
	if len(t.rows)%checkEvery == 0 {
		if err := t.outer.Err(); err != nil {
			return err
		}
	}
	t.rows = append(t.rows, []any{d.Hostname, orgID, d.Site, d.Address, d.Credential, d.Labels.String(), r.build, r.facts,
		r.lastSeen, r.watched, r.observed})
	if len(t.rows) >= copyBatch {
		return t.flush(ctx)
	}
	return nil
}

// InsertDevice stages a new device.
func (t *importTx) InsertDevice(ctx context.Context, d *inventory.Device, prepared any) error {
	return t.stage(ctx, d, prepared)
}

// UpdateDevice stages a stored device's new columns.
func (t *importTx) UpdateDevice(ctx context.Context, d *inventory.Device) error {
	return t.stage(ctx, d, nil)
}
