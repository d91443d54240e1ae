package store

import (
	"context"
	"fmt"
	"time"
)

// compactEvery is how often the revision log is trimmed.
const compactEvery = time.Minute

// runCompaction trims the revision log until ctx ends. Any replica may run
// it: the trim is idempotent.
func (s *Store) runCompaction(ctx context.Context) {
	t := time.NewTicker(compactEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.Compact(ctx); err != nil {
				s.log.WarnContext(ctx, "compacting the revision log failed", "error", err)
			} else if n > 0 {
				s.log.DebugContext(ctx, "compacted the revision log", "removed", n)
			}
		}
	}
}

// Compact removes log entries that are both older than the retention time
// and outside the newest retained count, and records the newest removed
// revision so watches from before it answer Gone. It returns how many
// entries it removed.
func (s *Store) Compact(ctx context.Context) (int64, error) {
	return s.compactBefore(ctx, time.Now().Add(-s.cfg.RetainFor), s.cfg.RetainEvents)
}

func (s *Store) compactBefore(ctx context.Context, olderThan time.Time, keep int64) (int64, error) {
	var cut *int64
	err := s.pool.QueryRow(ctx, `SELECT max(rv) FROM events
		WHERE created_at < $1 AND rv <= (SELECT rv FROM revision WHERE id = 1) - $2`, olderThan, keep).Scan(&cut)
	if err != nil {
		return 0, fmt.Errorf("find compaction point: %w", err)
	}
	if cut == nil {
		return 0, nil
	}
	// Raise the mark first: a watch that replays concurrently then sees
	// Gone rather than a silently incomplete history.
	if _, err := s.pool.Exec(ctx, `UPDATE compaction SET rv = greatest(rv, $1) WHERE id = 1`, *cut); err != nil {
		return 0, fmt.Errorf("record compaction mark: %w", err)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM events WHERE rv <= $1`, *cut)
	if err != nil {
		return 0, fmt.Errorf("trim revision log: %w", err)
	}
	return tag.RowsAffected(), nil
}
