package main

// SQLite lets one transaction write to a database file at a time. FerretDB opens up to a
// hundred connections to each file, and a write that finds another writing waits in SQLite's
// busy handler: it sleeps 1, 2, 5 … up to 100 ms between tries, and a write that arrives
// meanwhile may take the lock first. So a write's wait grows with how many write beside it,
// not with how much is queued before it. Measured here, 3 clients of 25 concurrent writers
// each: p50 40–57 ms, p99 0.8–0.9 s, the slowest 1.7 s, for writes that take 1–2 ms alone
// (docs/performance.md).
//
// The gate sits between the clients and FerretDB, which listens on a Unix socket only this
// process uses. It passes each client's messages through on a connection of its own to
// FerretDB, and a write command goes through only when no other write to the same database
// is in FerretDB: writes to one database file go one at a time, in the order they came. Reads
// never wait on the gate (SQLite in WAL mode reads beside a writer). A client sends a command
// and waits for its answer before the next (the MongoDB drivers do so without exhaust
// cursors, which Sinergi does not use), so the gate holds a database from a write's
// command to its answer.

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/FerretDB/wire/wirebson"
)

const (
	opMsg       = 2013
	moreToCome  = 1 << 1 // OP_MSG flag: no answer follows
	headerBytes = 16
	maxMessage  = 48 << 20 // MongoDB's own bound on a message
)

// writes are the commands that write to a database file.
var writes = map[string]bool{"insert": true, "update": true, "delete": true, "findAndModify": true}

type gate struct {
	upstream string // FerretDB's Unix socket
	logger   *slog.Logger

	mu  sync.Mutex
	dbs map[string]chan struct{} // one slot per database; blocked senders queue in order
}

func newGate(upstream string, logger *slog.Logger) *gate {
	return &gate{upstream: upstream, logger: logger, dbs: map[string]chan struct{}{}}
}

func (g *gate) slot(db string) chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, ok := g.dbs[db]
	if !ok {
		s = make(chan struct{}, 1)
		g.dbs[db] = s
	}
	return s
}

// serve accepts clients on l until ctx ends, then closes every connection it passed through.
func (g *gate) serve(ctx context.Context, l net.Listener) {
	var wg sync.WaitGroup
	conns := map[net.Conn]struct{}{}
	var mu sync.Mutex
	go func() {
		<-ctx.Done()
		l.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	var pause time.Duration // after a failed accept (out of file descriptors, say): try again, slower each time
	for {
		client, err := l.Accept()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			pause = min(max(2*pause, 5*time.Millisecond), time.Second)
			g.logger.Error("gate: accepting a client failed; trying again", "error", err, "in", pause)
			select {
			case <-ctx.Done():
			case <-time.After(pause):
			}
			continue
		}
		pause = 0
		mu.Lock()
		conns[client] = struct{}{}
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			g.pass(ctx, client)
			mu.Lock()
			delete(conns, client)
			mu.Unlock()
		}()
	}
	wg.Wait()
}

// pass carries one client's messages to FerretDB and the answers back, until either side closes.
func (g *gate) pass(ctx context.Context, client net.Conn) {
	defer client.Close()
	var d net.Dialer
	server, err := d.DialContext(ctx, "unix", g.upstream)
	if err != nil {
		g.logger.Error("gate: FerretDB's socket", "error", err)
		return
	}
	defer server.Close()
	stop := context.AfterFunc(ctx, func() { server.Close() })
	defer stop()

	fromClient, fromServer := bufio.NewReader(client), bufio.NewReader(server)
	for {
		msg, err := readMessage(fromClient)
		if err != nil {
			return
		}
		db, write, answered := inspect(msg)
		var slot chan struct{}
		if write {
			slot = g.slot(db)
			select {
			case slot <- struct{}{}:
			case <-ctx.Done():
				return
			}
		}
		err = g.exchange(client, server, fromServer, msg, answered)
		if slot != nil {
			<-slot
		}
		if err != nil {
			return
		}
	}
}

func (g *gate) exchange(client, server net.Conn, fromServer *bufio.Reader, msg []byte, answered bool) error {
	if _, err := server.Write(msg); err != nil {
		return err
	}
	if !answered {
		return nil
	}
	answer, err := readMessage(fromServer)
	if err != nil {
		return err
	}
	_, err = client.Write(answer)
	return err
}

func readMessage(r *bufio.Reader) ([]byte, error) {
	var header [headerBytes]byte
	if _, err := io.ReadFull(r, header[:]); err != nil {
		return nil, err
	}
	size := int(binary.LittleEndian.Uint32(header[0:4]))
	if size < headerBytes || size > maxMessage {
		return nil, fmt.Errorf("message of %d bytes", size)
	}
	msg := make([]byte, size)
	copy(msg, header[:])
	if _, err := io.ReadFull(r, msg[headerBytes:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// inspect says which database a message writes to, if it is a write, and whether an answer
// follows. Anything it cannot read passes as a read, for FerretDB to answer.
func inspect(msg []byte) (db string, write, answered bool) {
	if binary.LittleEndian.Uint32(msg[12:16]) != opMsg || len(msg) < headerBytes+5 {
		return "", false, true
	}
	body := msg[headerBytes:]
	answered = binary.LittleEndian.Uint32(body[0:4])&moreToCome == 0
	for offset := 4; offset < len(body); {
		kind := body[offset]
		offset++
		if kind == 1 { // a document sequence: its size, then the documents
			if offset+4 > len(body) {
				break
			}
			offset += int(binary.LittleEndian.Uint32(body[offset : offset+4]))
			continue
		}
		if kind != 0 {
			break
		}
		size, err := wirebson.FindRaw(body[offset:])
		if err != nil {
			break
		}
		doc, err := wirebson.RawDocument(body[offset : offset+size]).Decode()
		if err != nil {
			break
		}
		name, _ := doc.Get("$db").(string)
		return name, writes[doc.Command()], answered
	}
	return "", false, answered
}
