// Package ingest takes validated readings into PostgreSQL.
//
// Its Batcher is a group commit: concurrent requests queue their readings, a
// few flusher goroutines each take everything waiting (up to a row cap) and
// write it with one COPY in one transaction, and every request is answered
// only after that transaction commits. Under load, batches grow by
// themselves; when idle, a lone request is written at once.
//
// Readings are unique per sensor and timestamp, whatever path brings them to
// the Batcher: a reading already stored with the same value is a duplicate,
// acknowledged and not stored again (nor counted in the rollup); one stored
// with a different value fails its request with a *ConflictError and
// nothing of that request is stored, while the other requests of the batch
// commit. Validate collapses exact repeats within one request and refuses
// different values for one sensor and timestamp.
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/smartmaint/smartmaint/internal/store"
)

// Errors a Write may return besides its context's.
var (
	// ErrUnavailable means the readings were not stored because PostgreSQL
	// failed or timed out; the caller may retry the whole request.
	ErrUnavailable = errors.New("ingest: storage unavailable")
	// ErrClosed means the batcher is shutting down.
	ErrClosed = errors.New("ingest: shutting down")
)

// Request is one caller's readings plus what the hooks need of them.
type Request struct {
	// Rows must not repeat a sensor and timestamp (Validate collapses
	// repeats within a request).
	Rows []store.Reading
	// Extra is carried for hooks (for example the anomalies found in Rows).
	Extra any
	// Written is set when Write returns nil: how many rows were stored and
	// how many were already stored with the same value (duplicates, which
	// are acknowledged and not stored again).
	Written store.Written

	done chan error
}

// ConflictError is Write's answer for a request holding readings whose
// sensor and timestamp are already stored (or written by a request
// committed in the same batch) with a different value. Nothing of the
// request was stored; the other requests of its batch are not affected.
type ConflictError struct {
	// Conflicts name the readings by their position in Request.Rows.
	Conflicts []store.Conflict
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("ingest: %d readings conflict with stored readings of the same sensor and timestamp", len(e.Conflicts))
}

// Hooks extend a batch's transaction. Both are optional.
type Hooks struct {
	// Stage queues statements that commit atomically with the batch's
	// readings (for example an outbox of anomalies); if one fails, the
	// whole batch fails.
	Stage func(b *pgx.Batch, batch []*Request)
	// Committed runs after a successful commit, on the flusher goroutine; it
	// must not block.
	Committed func(batch []*Request)
}

// Options tune a Batcher.
type Options struct {
	MaxBatchRows  int
	Flushers      int
	QueueRequests int
	CommitTimeout time.Duration
	// SerialBelowRows is the batch size below which commits take turns
	// (default store.CopyThreshold; negative lets every batch commit in
	// parallel).
	SerialBelowRows int
	Hooks           Hooks
	Logger          *slog.Logger
}

// Batcher is the group-commit writer.
type Batcher struct {
	db      *store.DB
	opts    Options
	queue   chan *Request
	stop    chan struct{}
	closing sync.Once
	mu      sync.RWMutex // held for reading while enqueuing, for writing while closing
	closed  bool
	wg      sync.WaitGroup
	serial  sync.Mutex // held while a small batch commits
	metrics *metrics
}

// NewBatcher starts the flushers.
func NewBatcher(db *store.DB, opts Options) *Batcher {
	if opts.MaxBatchRows <= 0 {
		opts.MaxBatchRows = 20000
	}
	if opts.Flushers <= 0 {
		opts.Flushers = 2
	}
	if opts.QueueRequests <= 0 {
		opts.QueueRequests = 4096
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = 10 * time.Second
	}
	if opts.SerialBelowRows == 0 {
		opts.SerialBelowRows = store.CopyThreshold
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	b := &Batcher{
		db:      db,
		opts:    opts,
		queue:   make(chan *Request, opts.QueueRequests),
		stop:    make(chan struct{}),
		metrics: defaultMetrics,
	}
	for range opts.Flushers {
		b.wg.Add(1)
		go b.flusher()
	}
	return b
}

// Write queues req and waits until its readings are committed or have
// failed. Once queued, a request is always answered with the true outcome,
// even if ctx ends meanwhile: an acknowledged reading is a committed one.
func (b *Batcher) Write(ctx context.Context, req *Request) error {
	if len(req.Rows) == 0 {
		return nil
	}
	req.done = make(chan error, 1)
	b.mu.RLock()
	if b.closed {
		b.mu.RUnlock()
		return ErrClosed
	}
	select {
	case b.queue <- req:
		b.mu.RUnlock()
	case <-ctx.Done():
		b.mu.RUnlock()
		b.metrics.rejected.Inc()
		return fmt.Errorf("%w: queue full: %w", ErrUnavailable, ctx.Err())
	}
	return <-req.done
}

// Close stops taking requests, commits what is queued and waits for the
// flushers to finish.
func (b *Batcher) Close() {
	b.closing.Do(func() {
		b.mu.Lock()
		b.closed = true
		close(b.queue)
		b.mu.Unlock()
	})
	b.wg.Wait()
}

func (b *Batcher) flusher() {
	defer b.wg.Done()
	for first := range b.queue {
		batch, rows := b.drain([]*Request{first}, len(first.Rows))
		if rows >= b.opts.SerialBelowRows {
			b.flush(batch, rows)
			continue
		}
		// A small batch waits for the small commit in flight, then takes
		// what queued up meanwhile.
		b.serial.Lock()
		batch, rows = b.drain(batch, rows)
		b.flush(batch, rows)
		b.serial.Unlock()
	}
}

// drain adds queued requests to batch without waiting, up to the row cap.
func (b *Batcher) drain(batch []*Request, rows int) ([]*Request, int) {
	for rows < b.opts.MaxBatchRows {
		select {
		case r, ok := <-b.queue:
			if !ok {
				return batch, rows
			}
			batch = append(batch, r)
			rows += len(r.Rows)
		default:
			return batch, rows
		}
	}
	return batch, rows
}

// flush commits batch. Requests with conflicting readings are answered with
// a *ConflictError and the rest of the batch is committed without them; when
// the database rejects the data itself (not a connection failure) and the
// batch has several requests, each is retried on its own so one bad request
// cannot fail the others.
func (b *Batcher) flush(batch []*Request, rows int) {
	err := b.commit(batch, rows)
	var conflict *store.ConflictError
	if errors.As(err, &conflict) {
		rest := make([]*Request, 0, len(batch))
		restRows := 0
		for i, r := range batch {
			if cs, ok := conflict.Chunks[i]; ok {
				b.metrics.conflicts.Add(float64(len(cs)))
				r.done <- &ConflictError{Conflicts: cs}
				continue
			}
			rest = append(rest, r)
			restRows += len(r.Rows)
		}
		if len(rest) > 0 {
			b.flush(rest, restRows)
		}
		return
	}
	var pgErr *pgconn.PgError
	if err != nil && len(batch) > 1 && errors.As(err, &pgErr) && dataError(pgErr) {
		b.opts.Logger.Warn("ingest batch rejected; retrying requests one by one", "requests", len(batch), "error", err)
		for _, r := range batch {
			b.flush([]*Request{r}, len(r.Rows))
		}
		return
	}
	if err != nil {
		b.opts.Logger.Error("ingest batch failed", "requests", len(batch), "rows", rows, "error", err)
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	for _, r := range batch {
		r.done <- err
	}
}

func (b *Batcher) commit(batch []*Request, rows int) error {
	ctx, cancel := context.WithTimeout(context.Background(), b.opts.CommitTimeout)
	defer cancel()
	start := time.Now()
	chunks := make([][]store.Reading, len(batch))
	for i, r := range batch {
		chunks[i] = r.Rows
	}
	var extra func(*pgx.Batch)
	if b.opts.Hooks.Stage != nil {
		extra = func(pb *pgx.Batch) { b.opts.Hooks.Stage(pb, batch) }
	}
	written, err := b.db.WriteChunks(ctx, extra, chunks...)
	dups := 0
	if err == nil {
		for i, r := range batch {
			r.Written = written[i]
			dups += written[i].Duplicates
		}
	}
	var conflict *store.ConflictError
	if !errors.As(err, &conflict) {
		// A conflict is the client's, not a failed batch: the rest of the
		// batch is committed again and counted then.
		b.metrics.observe(time.Since(start), rows, dups, err)
	}
	if err != nil {
		return err
	}
	if b.opts.Hooks.Committed != nil {
		b.opts.Hooks.Committed(batch)
	}
	return nil
}

// dataError reports errors caused by the rows themselves (SQLSTATE classes 22
// data exception and 23 integrity constraint violation).
func dataError(e *pgconn.PgError) bool {
	return len(e.Code) == 5 && (e.Code[:2] == "22" || e.Code[:2] == "23")
}
