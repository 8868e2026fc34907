package dbcopy

import (
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// kind is how a column is stored in SQLite and what it becomes in
// PostgreSQL. The two schemas hold the same columns under the same names;
// they differ in how times (BIGINT microseconds against timestamptz),
// flags (INTEGER 0/1 against boolean) and a checkpoint (TEXT against
// bytea) are kept.
type kind int

const (
	text      kind = iota // TEXT NOT NULL
	nullText              // TEXT, NULL kept
	integer               // INTEGER NOT NULL
	nullInt               // INTEGER, NULL kept
	micros                // BIGINT microseconds NOT NULL -> timestamptz
	nullTime              // BIGINT microseconds or NULL -> timestamptz or NULL
	flag                  // INTEGER 0/1 -> boolean
	blob                  // BLOB NOT NULL -> bytea
	nullBlob              // BLOB or NULL -> bytea or NULL
	textBytes             // TEXT or NULL -> bytea or NULL (the campaign checkpoint)
)

// column is one column of a copied table, named alike in both schemas.
type column struct {
	name string
	kind kind
}

// table is one table copied as it is, row by row, in the order of order.
type table struct {
	name  string
	cols  []column
	order string // the source's ORDER BY (its key): rows arrive as they were stored
	// component is the store whose migrations create the table, for
	// errors.
	component string
	// identity: the target's first column (id, or the audit trail's seq)
	// is an identity column whose sequence is moved past the largest value
	// copied, so new rows never collide.
	identity bool
}

func cols(spec string) []column {
	var out []column
	for _, f := range strings.Fields(spec) {
		name, k, _ := strings.Cut(f, ":")
		c := column{name: name}
		switch k {
		case "":
			c.kind = text
		case "ns":
			c.kind = nullText
		case "i":
			c.kind = integer
		case "ni":
			c.kind = nullInt
		case "t":
			c.kind = micros
		case "nt":
			c.kind = nullTime
		case "b":
			c.kind = flag
		case "blob":
			c.kind = blob
		case "nblob":
			c.kind = nullBlob
		case "tb":
			c.kind = textBytes
		default:
			panic("dbcopy: unknown column kind " + k)
		}
		out = append(out, c)
	}
	return out
}

// tables are what is copied, parents before the rows that refer to them.
// Not copied: the migration tables (the target has its own), River's job
// tables (the queue is rebuilt: see requeue), and what the target's
// triggers derive from the rows copied (device_rollup, checked against
// the source's instead; campaign_count_deltas, empty).
var tables = []table{
	{name: "organisations", component: "inventory", identity: true, order: "id",
		cols: cols("id:i code name time_zone tags credential created_at:t")},
	{name: "devices", component: "inventory", identity: true, order: "id",
		cols: cols("id:i hostname org_id:i site address credential labels os_build_key:ni facts last_seen:nt watched_kbs:ns observed_at:nt created_at:t updated_at:t")},
	{name: "device_label_history", component: "inventory", identity: true, order: "id",
		cols: cols("id:i device_id:i label_key old_value:ns new_value:ns changed_at:t actor")},
	{name: "connection_profiles", component: "inventory", identity: true, order: "id",
		cols: cols("id:i org_id:ni executor https:b port:i auth allow_basic_without_tls:b ca_cert:nblob ca_name options credential updated_at:t")},
	{name: "watched_kbs", component: "inventory", order: "kb", cols: cols("kb")},
	{name: "credentials", component: "inventory", identity: true, order: "id",
		cols: cols("id:i name username secret:blob created_at:t")},
	{name: "credential_key", component: "inventory", order: "id", cols: cols("id:i key_check:blob recorded_at:t")},
	{name: "plugins", component: "inventory", order: "name", cols: cols("name path sha256 installed_at:t protocol:i version")},
	{name: "alerts", component: "alerts", order: "id", cols: cols("id title issued deadline file source added_at:t")},
	{name: "report_history", component: "history", order: "day, org",
		cols: cols("day:t org devices:i on_target:i supported:i taken_at:t")},
	{name: "report_history_alerts", component: "history", order: "day, org, alert",
		cols: cols("day:t org alert affected:i compliant:i")},
	{name: "campaigns", component: "campaigns", order: "num",
		cols: cols("name spec_file spec playbook_file playbook status wake_at:nt dirty:b seq:i created_at:t updated_at:t")},
	{name: "campaign_waves", component: "campaigns", order: "campaign, idx",
		cols: cols("campaign idx:i name status started_at:nt completed_at:nt approved:b reason")},
	{name: "campaign_devices", component: "campaigns", order: "id",
		cols: cols("campaign hostname org site wave:i ord:i state reason message step attempts:i generation:i next_attempt_at:nt lease_until:nt changed_at:t checkpoint:tb run_id accepted:b")},
	{name: "campaign_transitions", component: "campaigns", identity: true, order: "id",
		cols: cols("id:i campaign hostname from_state to_state reason cause at:t")},
	{name: "campaign_events", component: "campaigns", identity: true, order: "id",
		cols: cols("id:i campaign at:t actor action wave org detail reason")},
	{name: "campaign_forecasts", component: "campaigns", order: "campaign", cols: cols("campaign made_at:t forecast")},
	{name: "campaign_counts", component: "campaigns", order: "campaign, wave, org, site, state, reason, accepted",
		cols: cols("campaign wave:i org site state reason accepted:b devices:i")},
	{name: "notify_subscriptions", component: "notifications", identity: true, order: "id",
		cols: cols("id:i org channel url format secret_file recipient smtp sender username password_file allow_plain:b created_at:t")},
	{name: "notify_deliveries", component: "notifications", identity: true, order: "id",
		cols: cols("id:i subscription:i event_key event attempts:i next_at:nt lease_until:nt delivered_at:nt last_error created_at:t")},
	{name: "api_tokens", component: "access", order: "id",
		cols: cols("id subject role scope hash:blob note created_by created_at:t expires_at:t revoked_at:nt")},
	// The trail's triggers refuse UPDATE, DELETE and TRUNCATE, not the
	// inserts of COPY; its seqs are copied as they are.
	{name: "audit_log", component: "access", identity: true, order: "seq",
		cols: cols("seq:i at:t actor via token_id from_addr action target org outcome detail before:ns after:ns")},
}

// names lists the columns.
func (t table) names() []string {
	out := make([]string, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.name
	}
	return out
}

// selectSQL reads the table from the source, in its key's order.
func (t table) selectSQL() string {
	return "SELECT " + strings.Join(t.names(), ", ") + " FROM " + t.name + " ORDER BY " + t.order
}

// rowSource streams a source table's rows into pgx's CopyFrom, converting
// each value to the target's type: one row in memory at a time.
type rowSource struct {
	t     table
	rows  *sql.Rows
	dest  []any
	vals  []any
	n     int64
	err   error
	every func(n int64) // called every progressEvery rows, if set
}

// progressEvery is how often a long table reports its progress.
const progressEvery = 100_000

func newRowSource(t table, rows *sql.Rows, every func(int64)) *rowSource {
	s := &rowSource{t: t, rows: rows, dest: make([]any, len(t.cols)), vals: make([]any, len(t.cols)), every: every}
	for i, c := range t.cols {
		switch c.kind {
		case text:
			s.dest[i] = new(string)
		case nullText, textBytes:
			s.dest[i] = new(sql.NullString)
		case integer, flag, micros:
			s.dest[i] = new(int64)
		case nullInt, nullTime:
			s.dest[i] = new(sql.NullInt64)
		case blob, nullBlob:
			s.dest[i] = new([]byte)
		}
	}
	return s
}

var _ pgx.CopyFromSource = (*rowSource)(nil)

// Next reads the next row.
func (s *rowSource) Next() bool {
	if s.err != nil || !s.rows.Next() {
		return false
	}
	if err := s.rows.Scan(s.dest...); err != nil {
		s.err = fmt.Errorf("read %s row %d: %w", s.t.name, s.n+1, err)
		return false
	}
	for i, c := range s.t.cols {
		v, err := convert(c, s.dest[i])
		if err != nil {
			s.err = fmt.Errorf("read %s row %d: column %s: %w", s.t.name, s.n+1, c.name, err)
			return false
		}
		s.vals[i] = v
	}
	s.n++
	if s.every != nil && s.n%progressEvery == 0 {
		s.every(s.n)
	}
	return true
}

// Values is the row read, as the target's types.
func (s *rowSource) Values() ([]any, error) { return s.vals, nil }

// Err is what stopped the rows early.
func (s *rowSource) Err() error {
	if s.err != nil {
		return s.err
	}
	return s.rows.Err()
}

// convert turns a scanned source value into the target's.
func convert(c column, v any) (any, error) {
	switch c.kind {
	case text:
		return *v.(*string), nil
	case nullText:
		if ns := v.(*sql.NullString); ns.Valid {
			return ns.String, nil
		}
		return nil, nil
	case textBytes:
		if ns := v.(*sql.NullString); ns.Valid {
			return []byte(ns.String), nil
		}
		return nil, nil
	case integer:
		return *v.(*int64), nil
	case nullInt:
		if ni := v.(*sql.NullInt64); ni.Valid {
			return ni.Int64, nil
		}
		return nil, nil
	case micros:
		return time.UnixMicro(*v.(*int64)).UTC(), nil
	case nullTime:
		if ni := v.(*sql.NullInt64); ni.Valid {
			return time.UnixMicro(ni.Int64).UTC(), nil
		}
		return nil, nil
	case flag:
		switch b := *v.(*int64); b {
		case 0, 1:
			return b == 1, nil
		default:
			return nil, fmt.Errorf("flag is %d, not 0 or 1", b)
		}
	case blob:
		b := *v.(*[]byte)
		if b == nil {
			b = []byte{}
		}
		return b, nil
	case nullBlob:
		b := *v.(*[]byte)
		if b == nil {
			return nil, nil
		}
		return b, nil
	}
	return nil, fmt.Errorf("unknown kind %d", c.kind)
}
