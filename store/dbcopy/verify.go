package dbcopy

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/ringmaster-fleet/ringmaster/inventory"
	"github.com/ringmaster-fleet/ringmaster/orchestrator"
	"github.com/ringmaster-fleet/ringmaster/report"
	rhtml "github.com/ringmaster-fleet/ringmaster/report/html"
	"github.com/ringmaster-fleet/ringmaster/reports"
	"github.com/ringmaster-fleet/ringmaster/store"
)

// checkTables compares each table's rows in the source, copied, and in
// the target as the copy's transaction sees it.
func checkTables(ctx context.Context, tx pgx.Tx, r *Report) error {
	var total int64
	for _, t := range r.Tables {
		var got int64
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.Table).Scan(&got); err != nil {
			return fmt.Errorf("target: count %s: %w", t.Table, err)
		}
		if t.Copied != t.Source || got != t.Source {
			return fmt.Errorf("%w: table %s: %d row(s) in the source, %d copied, %d in the target", ErrMismatch, t.Table, t.Source, t.Copied, got)
		}
		total += got
	}
	r.Checks = append(r.Checks, Check{Name: "rows", Detail: fmt.Sprintf("%d tables, %d rows: the same in source and target", len(r.Tables), total)})
	return nil
}

// rollupKey is a cohort of the device rollup.
type rollupKey struct {
	org                      int64
	site, kbs                string
	build, seenDay, observed int64
}

// checkRollup compares the device rollup the target's triggers built
// from the devices copied with the source's, cohort by cohort in key
// order, reading both as streams. Every report over the estate is read
// from it.
func checkRollup(ctx context.Context, stx *sql.Tx, tx pgx.Tx, r *Report) error {
	srows, err := stx.QueryContext(ctx, `SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, devices
		FROM device_rollup WHERE devices <> 0 ORDER BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day`)
	if err != nil {
		return fmt.Errorf("source: read the device rollup: %w", err)
	}
	defer srows.Close()
	trows, err := tx.Query(ctx, `SELECT org_id, site, os_build_key, watched_kbs, seen_day, observed_day, sum(devices)::bigint
		FROM device_rollup GROUP BY org_id, site, os_build_key, watched_kbs, seen_day, observed_day HAVING sum(devices) <> 0
		ORDER BY org_id, site COLLATE "C", os_build_key, watched_kbs COLLATE "C", seen_day, observed_day`)
	if err != nil {
		return fmt.Errorf("target: read the device rollup: %w", err)
	}
	defer trows.Close()
	var cohorts, devices int64
	for {
		var s, t rollupKey
		var sn, tn int64
		sok, tok := srows.Next(), trows.Next()
		if sok {
			if err := srows.Scan(&s.org, &s.site, &s.build, &s.kbs, &s.seenDay, &s.observed, &sn); err != nil {
				return fmt.Errorf("source: read the device rollup: %w", err)
			}
		}
		if tok {
			if err := trows.Scan(&t.org, &t.site, &t.build, &t.kbs, &t.seenDay, &t.observed, &tn); err != nil {
				return fmt.Errorf("target: read the device rollup: %w", err)
			}
		}
		switch {
		case !sok && !tok:
			if err := srows.Err(); err != nil {
				return fmt.Errorf("source: read the device rollup: %w", err)
			}
			if err := trows.Err(); err != nil {
				return fmt.Errorf("target: read the device rollup: %w", err)
			}
			r.Checks = append(r.Checks, Check{Name: "device rollup",
				Detail: fmt.Sprintf("%d cohorts, %d devices: the same in source and target", cohorts, devices)})
			return nil
		case !tok:
			return fmt.Errorf("%w: device rollup: the source's cohort %+v (%d devices) is not in the target", ErrMismatch, s, sn)
		case !sok:
			return fmt.Errorf("%w: device rollup: the target has a cohort %+v (%d devices) the source has not", ErrMismatch, t, tn)
		case s != t || sn != tn:
			return fmt.Errorf("%w: device rollup: the source's cohort %+v has %d devices, the target's %+v %d", ErrMismatch, s, sn, t, tn)
		}
		cohorts++
		devices += sn
	}
}

// checkCampaignCounts checks the campaign counts copied against the
// devices copied: the target's controller reads them instead of its
// devices.
func checkCampaignCounts(ctx context.Context, tx pgx.Tx, r *Report) error {
	var n int
	var first string
	err := tx.QueryRow(ctx, `SELECT count(*), coalesce(min(format('%s wave %s %s/%s %s %s accepted=%s: %s counted, %s devices',
			campaign, wave, org, site, state, reason, accepted, coalesce(c.devices, 0), coalesce(g.devices, 0))), '')
		FROM (SELECT campaign, wave, org, site, state, reason, accepted, count(*)::integer AS devices
			FROM campaign_devices GROUP BY campaign, wave, org, site, state, reason, accepted) g
		FULL JOIN campaign_counts c USING (campaign, wave, org, site, state, reason, accepted)
		WHERE g.devices IS DISTINCT FROM c.devices`).Scan(&n, &first)
	if err != nil {
		return fmt.Errorf("target: check the campaign counts: %w", err)
	}
	if n > 0 {
		return fmt.Errorf("%w: campaign counts: %d key(s) counted otherwise than the devices copied, such as %s", ErrMismatch, n, first)
	}
	r.Checks = append(r.Checks, Check{Name: "campaign counts", Detail: "every campaign's counts equal its devices copied"})
	return nil
}

// requeueCause is recorded on the transition requeue makes.
const requeueCause = "db copy: its job was not copied; the first control pass re-queues it from its last checkpoint"

// requeue hands the devices queued in a live (running or paused)
// campaign to the controller. Their River jobs are not copied: River's
// tables hold the queue of one engine, and a job rebuilt by hand would
// bypass the scheduler. A queued device without a job would wait
// forever, so it is stored as running under a lease that lapsed at now,
// with a transition saying why; the first control pass on the target
// takes it as a device whose worker went silent (Store.Orphans) and
// re-queues it under a new generation with a job, its checkpoint and run
// id kept, exactly as when a node dies. Running devices are copied as
// they are: their leases lapse, and the same pass re-queues them. (A
// cancelled campaign's queued devices are left queued: their jobs would
// only have marked them skipped.)
func requeue(ctx context.Context, tx pgx.Tx, now time.Time) (int64, error) {
	now = now.UTC().Truncate(time.Microsecond)
	tag, err := tx.Exec(ctx, `WITH moved AS (
			UPDATE campaign_devices d SET state = 'running', lease_until = $1, changed_at = $1
			FROM campaigns c WHERE c.name = d.campaign AND c.status IN ('running', 'paused') AND d.state = 'queued'
			RETURNING d.campaign, d.hostname, d.ord, d.reason)
		INSERT INTO campaign_transitions (campaign, hostname, from_state, to_state, reason, cause, at)
		SELECT campaign, hostname, 'queued', 'running', reason, $2, $1 FROM moved ORDER BY campaign, ord`, now, requeueCause)
	if err != nil {
		return 0, fmt.Errorf("target: hand the queued devices to the controller: %w", err)
	}
	return tag.RowsAffected(), nil
}

// compareReports computes every report over the estate (progress per
// organisation and site, the scorecard, each alert's compliance, the
// daily history, each campaign's waves by state) from the source's
// stores and the target's, at one moment, and compares them. The
// devices requeue moved are counted as running in the target and as
// queued in the source, and compared so.
func compareReports(ctx context.Context, src, dst store.DB, now func() time.Time, r *Report) error {
	at := now()
	fixed := func() time.Time { return at }
	estate := func(db store.DB, side string) (rhtml.Report, error) {
		cs, err := db.Campaigns(ctx)
		if err != nil {
			return rhtml.Report{}, fmt.Errorf("%s: %w", side, err)
		}
		as, err := db.Alerts(ctx)
		if err != nil {
			return rhtml.Report{}, fmt.Errorf("%s: %w", side, err)
		}
		hs, err := db.History(ctx)
		if err != nil {
			return rhtml.Report{}, fmt.Errorf("%s: %w", side, err)
		}
		svc, err := reports.New(reports.Config{Inventory: db.Inventory(), Alerts: as, History: hs, Campaigns: cs, Now: fixed})
		if err != nil {
			return rhtml.Report{}, fmt.Errorf("%s: %w", side, err)
		}
		target, _, _ := inventory.ParseVersion(reports.DefaultTargetBuild)
		supported, _, _ := inventory.ParseVersion(reports.DefaultSupportedBuild)
		rep, err := svc.Estate(ctx, reports.EstateOptions{Selector: inventory.Everything(), TargetBuild: target, SupportedBuild: supported})
		if err != nil {
			return rhtml.Report{}, fmt.Errorf("%s: reports: %w", side, err)
		}
		return rep, nil
	}
	want, err := estate(src, "source")
	if err != nil {
		return err
	}
	got, err := estate(dst, "target")
	if err != nil {
		return err
	}
	if r.Requeued > 0 {
		asRequeued(want.Campaigns)
	}
	sections := []struct {
		name      string
		want, got any
	}{
		{"progress", want.Progress, got.Progress},
		{"progress by site", want.Sites, got.Sites},
		{"scorecard", want.Scorecard, got.Scorecard},
		{"compliance", want.Compliance, got.Compliance},
		{"history", want.History, got.History},
		{"campaigns", want.Campaigns, got.Campaigns},
	}
	for _, s := range sections {
		if err := sameJSON(s.name, s.want, s.got); err != nil {
			return err
		}
	}
	r.Checks = append(r.Checks, Check{Name: "reports", Detail: fmt.Sprintf(
		"progress (%d organisations, %d sites), scorecard, compliance with %d alert(s), %d daily snapshot(s), %d campaign(s): the same from source and target",
		len(want.Progress.Rows), len(want.Sites.Rows), len(want.Compliance), len(want.History), len(want.Campaigns))})
	return nil
}

// asRequeued counts a live campaign's queued devices as running, as
// requeue stored them.
func asRequeued(cs []report.CampaignSummary) {
	for _, c := range cs {
		if !orchestrator.Status(c.Status).Live() {
			continue
		}
		for _, w := range c.Waves {
			if n := w.States[string(orchestrator.DeviceQueued)]; n > 0 {
				w.States[string(orchestrator.DeviceQueued)] = 0 // as the copy counts it: every state is present
				w.States[string(orchestrator.DeviceRunning)] += n
			}
		}
	}
}

// sameJSON compares a report's section as JSON, naming where it first
// differs.
func sameJSON(name string, want, got any) error {
	a, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("reports: %s: %w", name, err)
	}
	b, err := json.Marshal(got)
	if err != nil {
		return fmt.Errorf("reports: %s: %w", name, err)
	}
	if bytes.Equal(a, b) {
		return nil
	}
	i := 0
	for i < len(a) && i < len(b) && a[i] == b[i] {
		i++
	}
	return fmt.Errorf("%w: the %s report differs at byte %d of its JSON: source %q, target %q", ErrMismatch, name, i, around(a, i), around(b, i))
}

// around is the text about position i.
func around(s []byte, i int) string {
	lo, hi := max(i-60, 0), min(i+60, len(s))
	return string(s[lo:hi])
}
