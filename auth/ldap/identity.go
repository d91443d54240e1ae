package ldap

import "errors"

// Identity is who a successful login proved the caller to be.
type Identity struct {
	Provider    string   // Config.Name
	Subject     string   // stable ID in the directory (DN or the mapped attribute)
	Username    string   // the mapped username attribute
	Email       string   // may be empty
	DisplayName string   // may be empty
	Groups      []string // group names, sorted; empty when groups are not configured
}

// Group is one directory group with its members' usernames, for group sync.
type Group struct {
	Name    string
	Members []string // usernames, sorted
}

// Error classes. Callers test them with errors.Is; the wrapped detail is for
// logs and never contains a password.
var (
	// ErrInvalidCredentials: unknown user, wrong password, empty password or
	// an ambiguous username. The cases are deliberately indistinguishable.
	ErrInvalidCredentials = errors.New("invalid username or password")
	// ErrAccountDisabled: the password was right but the account matches the
	// configured disabled filter. Only a caller who knows the password learns
	// that the account exists.
	ErrAccountDisabled = errors.New("account is disabled")
	// ErrUnavailable: the directory could not be reached or failed the
	// operation (network, TLS, timeout, service bind, server error).
	ErrUnavailable = errors.New("directory unavailable")
	// ErrInvalidConfig: the configuration cannot work.
	ErrInvalidConfig = errors.New("invalid LDAP configuration")
)
