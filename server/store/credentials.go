package store

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/api/errdefs"
)

// SetPasswordHash stores a local account's password hash (never the
// password).
func (s *Store) SetPasswordHash(ctx context.Context, user, hash string) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO credentials (username, hash) VALUES ($1, $2)
		ON CONFLICT (username) DO UPDATE SET hash = excluded.hash, updated_at = now()`, user, hash)
	if err != nil {
		return fmt.Errorf("store password of %q: %w", user, err)
	}
	return nil
}

// PasswordHash returns a local account's password hash, or NotFound.
func (s *Store) PasswordHash(ctx context.Context, user string) (string, error) {
	var hash string
	err := s.pool.QueryRow(ctx, `SELECT hash FROM credentials WHERE username = $1`, user).Scan(&hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("no password for %q: %w", user, errdefs.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("read password of %q: %w", user, err)
	}
	return hash, nil
}

// DeletePasswordHash removes a local account's password.
func (s *Store) DeletePasswordHash(ctx context.Context, user string) error {
	if _, err := s.pool.Exec(ctx, `DELETE FROM credentials WHERE username = $1`, user); err != nil {
		return fmt.Errorf("delete password of %q: %w", user, err)
	}
	return nil
}
