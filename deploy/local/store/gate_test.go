package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/FerretDB/wire/wirebson"
)

// upstream stands in for FerretDB: it hands each command it receives to the test, which
// decides when it is answered.
type received struct {
	command string
	conn    net.Conn
	id      uint32
}

func fakeFerretDB(t *testing.T) (string, <-chan received) {
	socket := filepath.Join(t.TempDir(), "ferretdb.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	got := make(chan received, 16)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				r := bufio.NewReader(conn)
				for {
					msg, err := readMessage(r)
					if err != nil {
						return
					}
					db, _, _ := inspect(msg)
					got <- received{command: commandOf(t, msg) + " " + db, conn: conn,
						id: binary.LittleEndian.Uint32(msg[4:8])}
				}
			}()
		}
	}()
	return socket, got
}

func commandOf(t *testing.T, msg []byte) string {
	body := msg[headerBytes:]
	size, err := wirebson.FindRaw(body[5:])
	if err != nil {
		t.Fatal(err)
	}
	doc, err := wirebson.RawDocument(body[5 : 5+size]).Decode()
	if err != nil {
		t.Fatal(err)
	}
	return doc.Command()
}

func opMsgOf(t *testing.T, id uint32, pairs ...any) []byte {
	doc, err := wirebson.MustDocument(pairs...).Encode()
	if err != nil {
		t.Fatal(err)
	}
	msg := make([]byte, headerBytes+4+1, headerBytes+5+len(doc))
	msg = append(msg, doc...)
	msg[headerBytes+4] = 0 // section kind 0: the command
	binary.LittleEndian.PutUint32(msg[0:4], uint32(len(msg)))
	binary.LittleEndian.PutUint32(msg[4:8], id)
	binary.LittleEndian.PutUint32(msg[12:16], opMsg)
	return msg
}

func answer(t *testing.T, r received) {
	reply := opMsgOf(t, r.id+1000, "ok", float64(1))
	binary.LittleEndian.PutUint32(reply[8:12], r.id)
	if _, err := r.conn.Write(reply); err != nil {
		t.Fatal(err)
	}
}

func expect(t *testing.T, got <-chan received, command string) received {
	t.Helper()
	select {
	case r := <-got:
		if r.command != command {
			t.Fatalf("FerretDB received %q, expected %q", r.command, command)
		}
		return r
	case <-time.After(5 * time.Second):
		t.Fatalf("FerretDB never received %q", command)
	}
	return received{}
}

func nothingMore(t *testing.T, got <-chan received) {
	t.Helper()
	select {
	case r := <-got:
		t.Fatalf("FerretDB received %q while another write to the same database was in it", r.command)
	case <-time.After(300 * time.Millisecond):
	}
}

// gateBefore starts a gate in front of a stand-in for FerretDB; listen wraps the gate's listener.
func gateBefore(t *testing.T, listen func(net.Listener) net.Listener) (net.Addr, <-chan received) {
	socket, got := fakeFerretDB(t)
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go newGate(socket, slog.Default()).serve(ctx, listen(front))
	return front.Addr(), got
}

func TestWritesToOneDatabaseGoOneAtATimeAndReadsDoNotWait(t *testing.T) {
	front, got := gateBefore(t, func(l net.Listener) net.Listener { return l })

	client := func() net.Conn {
		c, err := net.Dial("tcp", front.String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	send := func(c net.Conn, id uint32, pairs ...any) {
		if _, err := c.Write(opMsgOf(t, id, pairs...)); err != nil {
			t.Fatal(err)
		}
	}
	first, second, reader, other := client(), client(), client(), client()

	send(first, 1, "insert", "activities", "$db", "region_a")
	inFirst := expect(t, got, "insert region_a")
	send(second, 2, "update", "activities", "$db", "region_a")
	nothingMore(t, got) // the second write waits for the first's answer

	send(reader, 3, "find", "activities", "$db", "region_a")
	read := expect(t, got, "find region_a")
	send(other, 4, "insert", "partners", "$db", "region_b")
	inOther := expect(t, got, "insert region_b")

	answer(t, inFirst)
	inSecond := expect(t, got, "update region_a")
	for _, r := range []received{read, inOther, inSecond} {
		answer(t, r)
	}

	// Each client gets its own answer back.
	for c, id := range map[net.Conn]uint32{first: 1, second: 2, reader: 3, other: 4} {
		msg, err := readMessage(bufio.NewReader(c))
		if err != nil {
			t.Fatal(err)
		}
		if to := binary.LittleEndian.Uint32(msg[8:12]); to != id {
			t.Fatalf("a client got the answer to %d, not to its own %d", to, id)
		}
	}
}

// failingOnce is a listener whose first Accept fails, as one does when the process is out of
// file descriptors.
type failingOnce struct {
	net.Listener
	failed bool
}

func (l *failingOnce) Accept() (net.Conn, error) {
	if !l.failed {
		l.failed = true
		return nil, errors.New("accept: too many open files")
	}
	return l.Listener.Accept()
}

func TestAFailedAcceptDoesNotStopTheGateFromTakingClients(t *testing.T) {
	front, got := gateBefore(t, func(l net.Listener) net.Listener { return &failingOnce{Listener: l} })

	c, err := net.Dial("tcp", front.String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(opMsgOf(t, 1, "find", "partners", "$db", "region_a")); err != nil {
		t.Fatal(err)
	}
	expect(t, got, "find region_a")
}
