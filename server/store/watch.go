package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/errdefs"
	"github.com/slipway/slipway/api/labels"
	"github.com/slipway/slipway/server/watch"
)

// maxFeedPage bounds how many log entries the feed reads and publishes at
// once. A page is also never larger than a watcher's buffer, so a watcher
// that drains its queue between publications is never dropped.
const maxFeedPage = 512

// runFeed publishes new revisions from the log to the broadcaster, in
// order, until ctx ends. It wakes on NOTIFY and polls every second as a
// safety net; the log, not the notification, is the source of truth, so a
// lost notification or a reconnect loses nothing.
func (s *Store) runFeed(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		err := s.feedOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		s.log.WarnContext(ctx, "watch feed lost its connection; reconnecting", "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}

func (s *Store) feedOnce(ctx context.Context) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return fmt.Errorf("acquire feed connection: %w", err)
	}
	// The LISTEN session state must not go back to the pool.
	pg := conn.Hijack()
	defer pg.Close(context.Background()) //nolint:errcheck
	if _, err := pg.Exec(ctx, `LISTEN slipway_events`); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	for {
		for {
			n, err := s.publishNew(ctx, pg)
			if err != nil {
				return err
			}
			if n < s.feedPage() {
				break
			}
		}
		wait, cancel := context.WithTimeout(ctx, time.Second)
		_, err := pg.WaitForNotification(wait)
		cancel()
		if err != nil && ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil && wait.Err() == nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
	}
}

func (s *Store) publishNew(ctx context.Context, conn *pgx.Conn) (int, error) {
	start := time.Now()
	rows, err := conn.Query(ctx, `SELECT rv, resource, project, name, type, body FROM events
		WHERE rv > $1 ORDER BY rv LIMIT $2`, s.broadcaster.Last(), s.feedPage())
	if err != nil {
		return 0, fmt.Errorf("read revision log: %w", err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return 0, err
	}
	s.metrics.feedLagSecs.Observe(time.Since(start).Seconds())
	s.broadcaster.Publish(events)
	return len(events), nil
}

func (s *Store) feedPage() int { return min(maxFeedPage, s.cfg.WatchBuffer) }

func scanEvents(rows pgx.Rows) ([]watch.Event, error) {
	defer rows.Close()
	var events []watch.Event
	for rows.Next() {
		var ev watch.Event
		var typ string
		if err := rows.Scan(&ev.Revision, &ev.Resource, &ev.Project, &ev.Name, &typ, &ev.Object); err != nil {
			return nil, fmt.Errorf("read revision log: %w", err)
		}
		ev.Type = api.EventType(typ)
		var meta struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
		}
		if err := json.Unmarshal(ev.Object, &meta); err != nil {
			return nil, fmt.Errorf("decode revision %d: %w", ev.Revision, err)
		}
		ev.Labels = meta.Metadata.Labels
		events = append(events, ev)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read revision log: %w", err)
	}
	return events, nil
}

// WatchOptions select what a watch delivers.
type WatchOptions struct {
	Selector labels.Selector
	// After is the revision the watch starts after: it delivers every
	// matching change with a higher revision.
	After int64
}

// Watch streams changes of one resource in the context's project (or every
// project with AllProjects).
type Watch struct {
	sub     *watch.Subscription
	history []watch.Event
	// after is the newest revision delivered (or skipped as already seen).
	after int64
}

// Watch starts a watch. Changes after opts.After are replayed from the
// revision log and then followed live; a revision older than the retained
// log fails with Gone, and the client lists again.
func (s *Store) Watch(ctx context.Context, res *api.Resource, opts WatchOptions) (*Watch, error) {
	project, err := scope(ctx, res, true)
	if err != nil {
		return nil, err
	}
	match := func(ev *watch.Event) bool {
		return (project == AllProjects || ev.Project == project) && opts.Selector.Matches(ev.Labels)
	}
	sub, position := s.broadcaster.Subscribe(res.Plural, match, s.cfg.WatchBuffer)
	w := &Watch{sub: sub, after: opts.After}
	if opts.After < position {
		if w.history, err = s.replay(ctx, res, project, opts.After, position, match); err != nil {
			sub.Close()
			return nil, err
		}
	}
	return w, nil
}

// replay reads the log between two revisions and checks that nothing in
// that range has been compacted away.
func (s *Store) replay(ctx context.Context, res *api.Resource, project string, after, upTo int64, match watch.Filter) ([]watch.Event, error) {
	q := &query{}
	sql := `SELECT rv, resource, project, name, type, body FROM events WHERE rv > ` + q.arg(after) +
		` AND rv <= ` + q.arg(upTo) + ` AND resource = ` + q.arg(res.Plural)
	if project != AllProjects {
		sql += ` AND project = ` + q.arg(project)
	}
	rows, err := s.pool.Query(ctx, sql+` ORDER BY rv`, q.args...)
	if err != nil {
		return nil, fmt.Errorf("replay revision log: %w", err)
	}
	all, err := scanEvents(rows)
	if err != nil {
		return nil, err
	}
	// Read the compaction mark after the log: if it passed `after` while we
	// read, the rows we got may be incomplete.
	var compacted int64
	if err := s.pool.QueryRow(ctx, `SELECT rv FROM compaction WHERE id = 1`).Scan(&compacted); err != nil {
		return nil, fmt.Errorf("read compaction mark: %w", err)
	}
	if after < compacted {
		return nil, fmt.Errorf("resourceVersion %d is older than the retained history (compacted up to %d); list again: %w",
			after, compacted, errdefs.ErrGone)
	}
	events := all[:0]
	for i := range all {
		if match(&all[i]) {
			events = append(events, all[i])
		}
	}
	return events, nil
}

// ErrWatcherTooSlow ends a watch whose consumer fell behind the feed.
var ErrWatcherTooSlow = fmt.Errorf("watcher fell behind and was dropped; resume from the last resourceVersion: %w", errdefs.ErrGone)

// Next returns the next event. When bookmark fires first and the watcher
// has received everything up to the feed's position, it returns a BOOKMARK
// event at that position (Object empty). It fails with ErrWatcherTooSlow
// when the watcher was dropped, or ctx's error when ctx ends.
func (w *Watch) Next(ctx context.Context, bookmark <-chan time.Time) (watch.Event, error) {
	if len(w.history) > 0 {
		ev := w.history[0]
		w.history = w.history[1:]
		w.after = ev.Revision
		return ev, nil
	}
	for {
		select {
		case ev, ok := <-w.sub.C():
			if !ok {
				return watch.Event{}, ErrWatcherTooSlow
			}
			if ev.Revision <= w.after {
				continue // already replayed, or before the requested start
			}
			w.after = ev.Revision
			return ev, nil
		case <-bookmark:
			if rv, ok := w.sub.CaughtUp(); ok {
				w.after = max(w.after, rv)
				return watch.Event{Type: api.Bookmark, Revision: w.after}, nil
			}
		case <-ctx.Done():
			return watch.Event{}, ctx.Err()
		}
	}
}

// Stop ends the watch.
func (w *Watch) Stop() { w.sub.Close() }
