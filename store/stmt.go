package store

import (
	"container/list"
	"context"
	"database/sql"
	"errors"
	"strings"
	"sync"
)

// stmtCacheSize bounds the prepared statements one DB keeps: more than the
// distinct SQL texts stskms runs, so that only texts built on the fly (a
// multi-row INSERT of a varying number of rows) ever compete for a place.
const stmtCacheSize = 256

// stmtCacheMaxText is the longest SQL text kept prepared. Longer ones are
// statements built for many rows at once (an INSERT of a batch, an IN list),
// whose parse is shared by those rows and whose text seldom comes back the
// same: keeping them would only push out the short ones.
const stmtCacheMaxText = 1024

// stmtCache keeps the prepared statements of a DB, one per SQL text as the
// caller wrote it (before [Dialect.Rebind]), so that a statement run again is
// not parsed again: on SQLite the parse is the largest single cost of a small
// transaction. A text is prepared the second time it is run, never the
// first, so that a text that never comes back costs nothing extra; the least
// recently used statement makes way when the cache is full. Only data
// statements are kept (SELECT, INSERT, UPDATE, DELETE, WITH), never schema
// statements, which run once, and no text longer than stmtCacheMaxText.
//
// The statements are database/sql's: prepared on each connection when first
// used there, and re-prepared by SQLite itself when the schema changes
// (sqlite3_prepare_v2). A transaction uses them through [sql.Tx.StmtContext].
//
// A nil *stmtCache caches nothing. It is safe for concurrent use.
type stmtCache struct {
	db      *sql.DB
	dialect Dialect

	mu     sync.Mutex
	closed bool
	byText map[string]*list.Element // of *cachedStmt
	lru    list.List                // of *cachedStmt, most recently used first
	seen   map[string]struct{}      // texts run once and not prepared yet
}

// cachedStmt is one statement of a stmtCache.
type cachedStmt struct {
	text string
	stmt *sql.Stmt
	refs int  // acquired and not released yet
	gone bool // out of the cache: closed when refs drops to 0
}

func newStmtCache(db *sql.DB, d Dialect) *stmtCache {
	return &stmtCache{db: db, dialect: d, byText: make(map[string]*list.Element), seen: make(map[string]struct{})}
}

// acquire returns the prepared statement of query, to be given back with
// release, or nil if query is to be run as it is this time.
func (c *stmtCache) acquire(ctx context.Context, query string) *cachedStmt {
	if c == nil || !cacheable(query) {
		return nil
	}
	c.mu.Lock()
	if e, ok := c.byText[query]; ok {
		c.lru.MoveToFront(e)
		s := e.Value.(*cachedStmt)
		s.refs++
		c.mu.Unlock()
		return s
	}
	_, again := c.seen[query]
	if !again && !c.closed {
		if len(c.seen) >= 4*stmtCacheSize {
			clear(c.seen)
		}
		c.seen[query] = struct{}{}
	}
	c.mu.Unlock()
	if !again {
		return nil
	}
	// Prepare outside the lock. It may fail where running the text in a
	// transaction would not (a table that transaction created is not there
	// for another connection): the caller then runs it as it is.
	stmt, err := c.db.PrepareContext(ctx, c.dialect.Rebind(query))
	if err != nil {
		return nil
	}
	return c.add(query, stmt)
}

// add puts stmt, prepared for query, in the cache and returns it acquired,
// or the statement another goroutine put there meanwhile.
func (c *stmtCache) add(query string, stmt *sql.Stmt) *cachedStmt {
	var drop []*sql.Stmt
	defer func() {
		for _, st := range drop {
			st.Close()
		}
	}()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		drop = append(drop, stmt)
		return nil
	}
	if e, ok := c.byText[query]; ok {
		drop = append(drop, stmt)
		c.lru.MoveToFront(e)
		s := e.Value.(*cachedStmt)
		s.refs++
		return s
	}
	delete(c.seen, query)
	s := &cachedStmt{text: query, stmt: stmt, refs: 1}
	c.byText[query] = c.lru.PushFront(s)
	for c.lru.Len() > stmtCacheSize {
		old := c.lru.Remove(c.lru.Back()).(*cachedStmt)
		delete(c.byText, old.text)
		old.gone = true
		if old.refs == 0 {
			drop = append(drop, old.stmt)
		}
	}
	return s
}

// release gives back a statement acquire returned.
func (c *stmtCache) release(s *cachedStmt) {
	c.mu.Lock()
	s.refs--
	last := s.gone && s.refs == 0
	c.mu.Unlock()
	if last {
		s.stmt.Close()
	}
}

// close closes the statements and keeps the cache empty from then on.
// Statements in use are closed when their calls end (database/sql waits).
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	c.closed = true
	var all []*sql.Stmt
	for e := c.lru.Front(); e != nil; e = e.Next() {
		s := e.Value.(*cachedStmt)
		s.gone = true
		all = append(all, s.stmt)
	}
	c.lru.Init()
	clear(c.byText)
	clear(c.seen)
	c.mu.Unlock()
	for _, st := range all {
		st.Close()
	}
}

// len reports how many statements the cache holds.
func (c *stmtCache) len() int {
	if c == nil {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lru.Len()
}

// cacheable reports whether query is a data statement short enough to be
// worth keeping prepared.
func cacheable(query string) bool {
	if len(query) > stmtCacheMaxText {
		return false
	}
	q := strings.TrimLeft(query, " \t\r\n(")
	for _, kw := range [...]string{"SELECT", "INSERT", "UPDATE", "DELETE", "WITH"} {
		if len(q) > len(kw) && strings.EqualFold(q[:len(kw)], kw) && !isIdentByte(q[len(kw)]) {
			return true
		}
	}
	return false
}

// txStmts are the statements of one transaction taken from a stmtCache,
// each prepared at most once on the transaction's connection.
type txStmts struct {
	cache  *stmtCache
	mu     sync.Mutex
	byText map[string]*sql.Stmt
}

// get returns the statement of query in stx, or nil if query is to be run
// as it is.
func (t *txStmts) get(ctx context.Context, stx *sql.Tx, query string) *sql.Stmt {
	if t.cache == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if s, ok := t.byText[query]; ok {
		return s
	}
	c := t.cache.acquire(ctx, query)
	if c == nil {
		return nil
	}
	s := stx.StmtContext(ctx, c.stmt)
	t.cache.release(c)
	if t.byText == nil {
		t.byText = make(map[string]*sql.Stmt)
	}
	t.byText[query] = s
	return s
}

// failed forgets the statement of query after it reported err, so that a
// statement that could not be prepared on the transaction's connection is
// tried again rather than failing for the rest of the transaction.
func (t *txStmts) failed(query string, err error) {
	if err == nil || t.cache == nil || errors.Is(err, sql.ErrNoRows) {
		return
	}
	t.mu.Lock()
	delete(t.byText, query)
	t.mu.Unlock()
}
