// Command sinergi-store is the MongoDB-wire store for machines without MongoDB:
// FerretDB 1.x embedded as a library, on its SQLite backend, so a developer or CI
// machine needs nothing but Go to get a real MongoDB-protocol server.
//
// It is not MongoDB: there are no multi-document transactions and no change
// streams, which is why Sinergi treats one document write as the unit of atomicity.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	dataDir := flag.String("data", ".sinergi/data", "directory holding the SQLite databases")
	logFile := flag.String("log", "", "file to append logs to (default: stderr)")
	logLevel := flag.String("log-level", "warn", "debug, info, warn or error")
	flag.Parse()

	if err := run(*listen, *dataDir, *logFile, *logLevel); err != nil {
		fmt.Fprintln(os.Stderr, "sinergi-store:", err)
		os.Exit(1)
	}
}

func run(listen, dataDir, logFile, logLevel string) error {
	var out io.Writer = os.Stderr
	if logFile != "" {
		f, err := os.OpenFile(logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		defer f.Close()
		out = f
	}

	var level slog.Level
	if err := level.UnmarshalText([]byte(logLevel)); err != nil {
		return fmt.Errorf("bad -log-level %q: %w", logLevel, err)
	}
	logger := slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: level}))

	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return err
	}

	// FerretDB listens on a Unix socket of its own; clients reach it through the write gate
	// (gate.go) on the TCP address. The socket is in Linux's abstract namespace (the leading
	// "@"): it has no file, so a store killed with SIGKILL (or by the OOM killer) leaves nothing
	// behind, as the temporary directory that held it did. It is no more open than the TCP
	// address every local user reaches already; a client that dialled it would only skip the
	// gate's ordering of writes. Abstract sockets are Linux's, as is every machine `make up`
	// installs on (Debian).
	socket, err := abstractSocket()
	if err != nil {
		return err
	}

	// SQLite URI of a directory: one database file per MongoDB database.
	db, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{Unix: socket},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + abs + "/",
	})
	if err != nil {
		return err
	}

	// SIGTERM and SIGINT cancel the context; Run then closes the listener,
	// the connections and the SQLite files before returning.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	// Indexes _id the way FerretDB's SQLite backend looks it up (ids.go).
	go newIDIndexer(abs, logger).run(ctx, 2*time.Second)

	ran := make(chan struct{})
	go func() {
		defer close(ran)
		db.Run(ctx)
	}()
	if err := awaitSocket(ctx, socket, ran); err != nil {
		return err
	}
	l, err := net.Listen("tcp", listen)
	if err != nil {
		stop()
		<-ran
		return err
	}
	logger.Warn("sinergi-store listening", "listen", listen, "data", abs)
	newGate(socket, logger).serve(ctx, l)
	<-ran
	logger.Warn("sinergi-store stopped")
	return nil
}

// abstractSocket names a socket in the abstract namespace, unique to this process: the pid
// among live processes, and random bytes for stores in other PID namespaces on one network.
func abstractSocket() (string, error) {
	random := make([]byte, 8)
	if _, err := rand.Read(random); err != nil {
		return "", err
	}
	return fmt.Sprintf("@sinergi-store-%d-%s", os.Getpid(), hex.EncodeToString(random)), nil
}

// awaitSocket waits until FerretDB answers on its socket, so that the first client is passed through.
func awaitSocket(ctx context.Context, socket string, ran <-chan struct{}) error {
	for {
		if c, err := net.Dial("unix", socket); err == nil {
			c.Close()
			return nil
		}
		select {
		case <-ran:
			return fmt.Errorf("FerretDB stopped before it listened on %s", socket)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}
