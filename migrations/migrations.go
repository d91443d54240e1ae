// Package migrations holds Slipway's ordered SQL schema migrations, embedded
// in the binary. Files are named NNNN_description.sql and applied in order
// by server/store at start-up; an applied file is never edited, only
// followed by a new one.
package migrations

import "embed"

// FS holds the migration files.
//
//go:embed *.sql
var FS embed.FS
