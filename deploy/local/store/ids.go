package main

// FerretDB 1.24's SQLite backend finds a document by _id with the expression
// _ferretdb_sjson->'$._id', but indexes _id as _ferretdb_sjson->"_id". SQLite uses
// an index on an expression only for that expression as written, so every lookup,
// update and delete by _id scans the whole table (EXPLAIN QUERY PLAN: SCAN), and a
// write costs time in proportion to its collection: about 26 ms at 3,000 documents
// of 1.5 KB against 1.6 ms with a matching index (docs/performance.md).
//
// This indexer adds the index FerretDB's own query can use, to every collection
// table of every database file, a few seconds after the table appears. It reads
// FerretDB's catalogue table (_ferretdb_collections, pinned by go.mod to v1.24.0)
// and adds only an index: FerretDB's metadata, which lists the indexes a client
// sees, is never written, and dropping a collection drops its table and this index
// with it. Filters on more than _id are evaluated by FerretDB in Go and are not
// helped; that is FerretDB's limit, not SQLite's.

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "modernc.org/sqlite" // the driver FerretDB itself uses
)

const indexPrefix = "sinergi_id_"

// The indexer remembers no table names: a collection or database dropped and created again
// between two passes has a new table of the same name without the index, and a remembered
// name would hide it. It remembers, per file, when the file and its write-ahead log last
// changed as it found every table indexed, and asks again only a file changed since: creating
// a table writes to one of them. Asking every file on every pass opened each database of the
// store every two seconds; a test session leaves thousands, and the passes took a whole core.
type idIndexer struct {
	dir    string
	logger *slog.Logger
	done   map[string]time.Time // file → its last change when all its tables were indexed
}

func newIDIndexer(dir string, logger *slog.Logger) *idIndexer {
	return &idIndexer{dir: dir, logger: logger, done: map[string]time.Time{}}
}

// changed is the later modification time of a database file and of its write-ahead log.
func changed(file string) (time.Time, error) {
	info, err := os.Stat(file)
	if err != nil {
		return time.Time{}, err
	}
	last := info.ModTime()
	if wal, err := os.Stat(file + "-wal"); err == nil && wal.ModTime().After(last) {
		last = wal.ModTime()
	}
	return last, nil
}

// run indexes new tables every interval until ctx ends.
func (x *idIndexer) run(ctx context.Context, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		x.pass(ctx)
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

func (x *idIndexer) pass(ctx context.Context) {
	files, err := filepath.Glob(filepath.Join(x.dir, "*.sqlite"))
	if err != nil {
		return
	}
	seen := make(map[string]bool, len(files))
	for _, file := range files {
		seen[file] = true
		// Read before the file is asked: a table created while it is asked changes it again.
		last, err := changed(file)
		if err != nil {
			continue // removed meanwhile
		}
		if done, ok := x.done[file]; ok && done.Equal(last) {
			continue
		}
		if err := x.indexFile(ctx, file); err != nil {
			// A database dropped or busy right now is tried again on the next pass.
			x.logger.Debug("sinergi-store: _id index pass skipped a file", "file", file, "error", err)
			delete(x.done, file)
			continue
		}
		x.done[file] = last
	}
	for file := range x.done {
		if !seen[file] {
			delete(x.done, file)
		}
	}
}

func (x *idIndexer) indexFile(ctx context.Context, file string) error {
	// mode=rw: never create a file FerretDB has just removed.
	db, err := sql.Open("sqlite", "file:"+file+"?mode=rw&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	db.SetMaxOpenConns(1)

	tables, err := x.unindexed(ctx, db)
	if err != nil {
		return err
	}
	for _, table := range tables {
		q := fmt.Sprintf(`CREATE INDEX IF NOT EXISTS %q ON %q (_ferretdb_sjson->'$._id')`, indexPrefix+table, table)
		if _, err := db.ExecContext(ctx, q); err != nil {
			return err
		}
		x.logger.Info("sinergi-store: indexed _id as FerretDB queries it", "file", filepath.Base(file), "table", table)
	}
	return nil
}

// unindexed lists the collection tables that have no index of ours (one read of the catalogue).
func (x *idIndexer) unindexed(ctx context.Context, db *sql.DB) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT table_name FROM _ferretdb_collections WHERE table_name NOT IN
		(SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = '`+indexPrefix+`' || tbl_name)`)
	if err != nil {
		if strings.Contains(err.Error(), "no such table") {
			return nil, nil // a database file FerretDB has not finished creating
		}
		return nil, err
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var table string
		if err := rows.Scan(&table); err != nil {
			return nil, err
		}
		tables = append(tables, table)
	}
	return tables, rows.Err()
}
