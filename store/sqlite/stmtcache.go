package sqlite

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"reflect"

	msqlite "modernc.org/sqlite"
)

// stmtsPerConn bounds the statements one connection keeps prepared.
const stmtsPerConn = 128

// maxCachedSQL is the longest statement text kept prepared: longer texts
// are scripts (migrations) or built for one call (a compound SELECT over
// a set of organisations), not statements run again.
const maxCachedSQL = 8 << 10

// connector opens modernc's SQLite connections with a statement cache:
// database/sql hands a query it is not given a prepared statement for to
// the driver's QueryContext, which parses it again every time. On a busy
// node most of those are River's (completing, fetching and inserting
// jobs) and this store's own, the same few dozen texts run thousands of
// times a second; parsing them was a fifth of a busy node's CPU.
type connector struct{ base driver.Connector }

// newConnector returns the connector of dsn on modernc's package-level
// driver (where campaign_rank is registered).
func newConnector(dsn string) (connector, error) {
	base, err := msqlite.NewConnector(dsn)
	return connector{base}, err
}

// Connect opens one connection.
func (c connector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return newCachingConn(conn)
}

// Driver is modernc's driver.
func (c connector) Driver() driver.Driver { return c.base.Driver() }

// inner is what cachingConn needs of the driver's connection: what
// database/sql uses (with contexts) and a connection's session checks.
type inner interface {
	driver.Conn
	driver.ConnBeginTx
	driver.ConnPrepareContext
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// cachingConn is a driver connection that keeps the statements run on it
// prepared, the least recently used dropped beyond stmtsPerConn. A
// statement whose rows are still open is not shared: a second query of
// the same text while it is open is prepared for that call alone.
// database/sql never uses one connection from two goroutines at once.
type cachingConn struct {
	inner
	stmts map[string]*list.Element // of *cachedStmt
	lru   list.List                // front: most recently used
}

type cachedStmt struct {
	query string
	st    driver.Stmt
	busy  bool // its rows are open
}

func newCachingConn(c driver.Conn) (*cachingConn, error) {
	in, ok := c.(inner)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sqlite driver connection %T lacks context-aware methods", c)
	}
	return &cachingConn{inner: in, stmts: map[string]*list.Element{}}, nil
}

// Unwrap is the driver's connection, as modernc asks of wrappers.
func (c *cachingConn) Unwrap() driver.Conn { return c.inner }

// stmt returns the cached statement for query, preparing it on first use;
// nil when it cannot be shared now.
func (c *cachingConn) stmt(ctx context.Context, query string) (*cachedStmt, error) {
	if len(query) > maxCachedSQL {
		return nil, nil
	}
	if e, ok := c.stmts[query]; ok {
		cs := e.Value.(*cachedStmt)
		if cs.busy {
			return nil, nil
		}
		c.lru.MoveToFront(e)
		return cs, nil
	}
	st, err := c.inner.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	cs := &cachedStmt{query: query, st: st}
	c.stmts[query] = c.lru.PushFront(cs)
	c.evict()
	return cs, nil
}

// evict closes the least recently used idle statements beyond the bound.
func (c *cachingConn) evict() {
	for e := c.lru.Back(); e != nil && len(c.stmts) > stmtsPerConn; {
		prev := e.Prev()
		if cs := e.Value.(*cachedStmt); !cs.busy {
			c.lru.Remove(e)
			delete(c.stmts, cs.query)
			_ = cs.st.Close()
		}
		e = prev
	}
}

// ExecContext runs query on its cached statement.
func (c *cachingConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.ExecContext(ctx, query, args)
	}
	return cs.st.(driver.StmtExecContext).ExecContext(ctx, args)
}

// QueryContext runs query on its cached statement, which stays busy until
// the rows close.
func (c *cachingConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	cs, err := c.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	if cs == nil {
		return c.inner.QueryContext(ctx, query, args)
	}
	rows, err := cs.st.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	cs.busy = true
	return &cachedRows{Rows: rows, stmt: cs}, nil
}

// Close closes the cached statements, then the connection.
func (c *cachingConn) Close() error {
	var errs []error
	for e := c.lru.Front(); e != nil; e = e.Next() {
		errs = append(errs, e.Value.(*cachedStmt).st.Close())
	}
	clear(c.stmts)
	c.lru.Init()
	return errors.Join(append(errs, c.inner.Close())...)
}

// cachedRows releases its statement when closed. It passes on the column
// type methods modernc's rows have, which database/sql's ColumnTypes uses.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	r.stmt.busy = false
	return err
}

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}
