package ovsdb

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Condition is one clause of a "where": [column, function, value], e.g.
// Equal("name", "ls0") or Equal("_uuid", NamedUUID("newls")).
type Condition struct {
	Column   string
	Function string // "==", "!=", "<", "<=", ">", ">=", "includes", "excludes"
	Value    any
}

// Equal is the condition column == value.
func Equal(column string, value any) Condition {
	return Condition{Column: column, Function: "==", Value: value}
}

// MarshalJSON encodes c as [column, function, value].
func (c Condition) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{c.Column, c.Function, c.Value})
}

// Mutation is one change of a "mutate": [column, mutator, value], e.g.
// {"ports", "insert", Set[any]{NamedUUID("p1")}}.
type Mutation struct {
	Column  string
	Mutator string // "+=", "-=", "*=", "/=", "%=", "insert", "delete"
	Value   any
}

// MarshalJSON encodes m as [column, mutator, value].
func (m Mutation) MarshalJSON() ([]byte, error) {
	return json.Marshal([]any{m.Column, m.Mutator, m.Value})
}

// Operation is one operation of a transaction (RFC 7047 §5.2). Build it
// with Insert, Select, Update, Mutate, Delete, Wait or Comment.
type Operation struct {
	Op        string
	Table     string
	Row       map[string]any
	UUIDName  string
	Where     []Condition
	Columns   []string
	Mutations []Mutation
	// Wait only: Timeout in milliseconds (nil waits forever), Until "==" or
	// "!=", Rows the expected rows.
	Timeout *int
	Until   string
	Rows    []map[string]any
	Comment string
}

// Insert adds row to table. A non-empty uuidName lets later operations of
// the same transaction refer to the new row as NamedUUID(uuidName).
func Insert(table string, row map[string]any, uuidName string) Operation {
	return Operation{Op: "insert", Table: table, Row: row, UUIDName: uuidName}
}

// Select returns the rows of table matching where (all rows when where is
// empty), restricted to columns when given.
func Select(table string, where []Condition, columns ...string) Operation {
	return Operation{Op: "select", Table: table, Where: where, Columns: columns}
}

// Update sets the columns of row in every row of table matching where.
func Update(table string, where []Condition, row map[string]any) Operation {
	return Operation{Op: "update", Table: table, Where: where, Row: row}
}

// Mutate applies mutations to every row of table matching where.
func Mutate(table string, where []Condition, mutations ...Mutation) Operation {
	return Operation{Op: "mutate", Table: table, Where: where, Mutations: mutations}
}

// Delete removes every row of table matching where.
func Delete(table string, where ...Condition) Operation {
	return Operation{Op: "delete", Table: table, Where: where}
}

// Wait makes the transaction proceed only once the columns of the rows
// matching where compare (until "==" or "!=") to rows. timeoutMS 0 checks
// once: a failed check aborts the transaction with ErrTimedOut, which gives
// idempotent creation ("insert unless a row named X exists").
func Wait(table string, timeoutMS int, where []Condition, columns []string, until string, rows []map[string]any) Operation {
	return Operation{Op: "wait", Table: table, Timeout: &timeoutMS, Where: where, Columns: columns, Until: until, Rows: rows}
}

// Comment adds text to the server's log of the transaction.
func Comment(text string) Operation {
	return Operation{Op: "comment", Comment: text}
}

// MarshalJSON encodes o with the members its kind requires.
func (o Operation) MarshalJSON() ([]byte, error) {
	m := map[string]any{"op": o.Op}
	where := o.Where
	if where == nil {
		where = []Condition{}
	}
	switch o.Op {
	case "insert":
		m["table"], m["row"] = o.Table, nonNilRow(o.Row)
		if o.UUIDName != "" {
			m["uuid-name"] = o.UUIDName
		}
	case "select":
		m["table"], m["where"] = o.Table, where
		if len(o.Columns) > 0 {
			m["columns"] = o.Columns
		}
	case "update":
		m["table"], m["where"], m["row"] = o.Table, where, nonNilRow(o.Row)
	case "mutate":
		muts := o.Mutations
		if muts == nil {
			muts = []Mutation{}
		}
		m["table"], m["where"], m["mutations"] = o.Table, where, muts
	case "delete":
		m["table"], m["where"] = o.Table, where
	case "wait":
		rows := o.Rows
		if rows == nil {
			rows = []map[string]any{}
		}
		cols := o.Columns
		if cols == nil {
			cols = []string{}
		}
		m["table"], m["where"], m["columns"], m["until"], m["rows"] = o.Table, where, cols, o.Until, rows
		if o.Timeout != nil {
			m["timeout"] = *o.Timeout
		}
	case "comment":
		m["comment"] = o.Comment
	case "commit", "abort", "assert":
		return nil, fmt.Errorf("operation %q is not supported", o.Op)
	default:
		return nil, fmt.Errorf("unknown operation %q", o.Op)
	}
	return json.Marshal(m)
}

func nonNilRow(r map[string]any) map[string]any {
	if r == nil {
		return map[string]any{}
	}
	return r
}

// OperationResult is the server's answer to one operation: UUID for an
// insert, Count for update/mutate/delete, Rows for a select.
type OperationResult struct {
	UUID    UUID
	Count   int
	Rows    []Row
	Error   string
	Details string
}

// UnmarshalJSON decodes one element of a transact result; null (an
// operation not reached after an earlier failure) decodes to the zero value.
func (r *OperationResult) UnmarshalJSON(b []byte) error {
	var raw struct {
		UUID    *UUID  `json:"uuid"`
		Count   *int   `json:"count"`
		Rows    []Row  `json:"rows"`
		Error   string `json:"error"`
		Details string `json:"details"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*r = OperationResult{Rows: raw.Rows, Error: raw.Error, Details: raw.Details}
	if raw.UUID != nil {
		r.UUID = *raw.UUID
	}
	if raw.Count != nil {
		r.Count = *raw.Count
	}
	return nil
}

// ErrorKind is the class of an OVSDB error, the "error" string of RFC 7047
// §3.1; test with errors.Is(err, ovsdb.ErrTimedOut).
type ErrorKind string

func (k ErrorKind) Error() string { return string(k) }

// Error kinds a transaction can fail with (RFC 7047 §5.2).
const (
	ErrTimedOut             = ErrorKind("timed out")
	ErrConstraintViolation  = ErrorKind("constraint violation")
	ErrReferentialIntegrity = ErrorKind("referential integrity violation")
	ErrResourcesExhausted   = ErrorKind("resources exhausted")
	ErrNotSupported         = ErrorKind("not supported")
	ErrAborted              = ErrorKind("aborted")
	ErrNotOwner             = ErrorKind("not owner")
	ErrDuplicateUUIDName    = ErrorKind("duplicate uuid-name")
	ErrUnknownDatabase      = ErrorKind("unknown database")
	ErrSyntax               = ErrorKind("syntax error")
)

// OperationError says which operation of a transaction failed and why. For
// a failure found only at commit (e.g. a unique index), Index equals the
// number of operations and Op is "commit".
type OperationError struct {
	Index   int
	Op      string
	Table   string
	Kind    ErrorKind
	Details string
}

func (e *OperationError) Error() string {
	where := fmt.Sprintf("operation %d (%s", e.Index, e.Op)
	if e.Table != "" {
		where += " " + e.Table
	}
	where += ")"
	if e.Details == "" {
		return fmt.Sprintf("%s: %s", where, e.Kind)
	}
	return fmt.Sprintf("%s: %s: %s", where, e.Kind, e.Details)
}

// Is makes errors.Is(err, ErrTimedOut) and the like work.
func (e *OperationError) Is(target error) bool {
	k, ok := target.(ErrorKind)
	return ok && k == e.Kind
}

// operationError returns the first failure among results, or nil.
func operationError(ops []Operation, results []OperationResult) error {
	for i, r := range results {
		if r.Error == "" {
			continue
		}
		e := &OperationError{Index: i, Op: "commit", Kind: ErrorKind(r.Error), Details: r.Details}
		if i < len(ops) {
			e.Op, e.Table = ops[i].Op, ops[i].Table
		}
		return e
	}
	return nil
}

func isTimedOut(err error) bool {
	var oe *OperationError
	return errors.As(err, &oe) && oe.Kind == ErrTimedOut
}
