package slapd

import (
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"strings"
)

// FixtureUser is an inetOrgPerson under ou=people.
type FixtureUser struct {
	Username    string // uid
	Password    string // stored as a salted SHA-1 ({SSHA}) hash
	Email       string // mail
	DisplayName string // displayName
	// Disabled marks the account with employeeType: disabled, the attribute
	// an authenticator's disabledFilter "(employeeType=disabled)" matches.
	Disabled bool
}

// DN returns the user's distinguished name under suffix.
func (u FixtureUser) DN(suffix string) string {
	return "uid=" + u.Username + ",ou=people," + suffix
}

// FixtureGroup is a group under ou=groups, either a groupOfNames (members by
// DN) or a posixGroup (members by username in memberUid).
type FixtureGroup struct {
	Name    string   // cn
	Members []string // usernames
	Posix   bool
	GID     int // gidNumber, posix groups only
}

// Fixture is the content of a test directory.
type Fixture struct {
	Suffix          string
	ServiceDN       string // read access to the whole tree, auth on passwords
	ServicePassword string
	Users           []FixtureUser
	Groups          []FixtureGroup
}

// User returns the fixture user with the given username.
func (f *Fixture) User(username string) (FixtureUser, bool) {
	for _, u := range f.Users {
		if u.Username == username {
			return u, true
		}
	}
	return FixtureUser{}, false
}

// DefaultFixture returns the directory used by Slipway's tests: a service
// account, alice (developers, admins), bob (developers, ops), carol
// (developers, disabled), the groupOfNames groups developers and admins, and
// the posixGroup ops.
func DefaultFixture(suffix string) *Fixture {
	return &Fixture{
		Suffix:          suffix,
		ServiceDN:       "cn=svc,ou=system," + suffix,
		ServicePassword: "svcpw",
		Users: []FixtureUser{
			{Username: "alice", Password: "alicepw", Email: "alice@example.org", DisplayName: "Alice Liddell"},
			{Username: "bob", Password: "bobpw", Email: "bob@example.org", DisplayName: "Bob Builder"},
			{Username: "carol", Password: "carolpw", Email: "carol@example.org", DisplayName: "Carol Disabled", Disabled: true},
		},
		Groups: []FixtureGroup{
			{Name: "developers", Members: []string{"alice", "bob", "carol"}},
			{Name: "admins", Members: []string{"alice"}},
			{Name: "ops", Members: []string{"bob"}, Posix: true, GID: 5000},
		},
	}
}

// LDIF renders the fixture as slapadd input.
func (f *Fixture) LDIF() string {
	var b strings.Builder
	dc := strings.TrimPrefix(strings.SplitN(f.Suffix, ",", 2)[0], "dc=")
	entry(&b, f.Suffix, "objectClass: dcObject", "objectClass: organization", "dc: "+dc, "o: "+dc)
	for _, ou := range []string{"people", "groups", "system"} {
		entry(&b, "ou="+ou+","+f.Suffix, "objectClass: organizationalUnit", "ou: "+ou)
	}
	entry(&b, f.ServiceDN, "objectClass: person", "cn: svc", "sn: svc", "userPassword: "+ssha(f.ServicePassword))
	for _, u := range f.Users {
		lines := []string{
			"objectClass: inetOrgPerson",
			"uid: " + u.Username,
			"cn: " + u.DisplayName,
			"sn: " + u.Username,
			"displayName: " + u.DisplayName,
			"mail: " + u.Email,
			"userPassword: " + ssha(u.Password),
		}
		if u.Disabled {
			lines = append(lines, "employeeType: disabled")
		}
		entry(&b, u.DN(f.Suffix), lines...)
	}
	for _, g := range f.Groups {
		dn := "cn=" + g.Name + ",ou=groups," + f.Suffix
		if g.Posix {
			lines := []string{"objectClass: posixGroup", "cn: " + g.Name, fmt.Sprintf("gidNumber: %d", g.GID)}
			for _, m := range g.Members {
				lines = append(lines, "memberUid: "+m)
			}
			entry(&b, dn, lines...)
			continue
		}
		lines := []string{"objectClass: groupOfNames", "cn: " + g.Name}
		for _, m := range g.Members {
			lines = append(lines, "member: uid="+m+",ou=people,"+f.Suffix)
		}
		entry(&b, dn, lines...)
	}
	return b.String()
}

func entry(b *strings.Builder, dn string, lines ...string) {
	b.WriteString("dn: " + dn + "\n")
	for _, l := range lines {
		b.WriteString(l + "\n")
	}
	b.WriteString("\n")
}

// ssha hashes a password the way `slappasswd -h {SSHA}` does.
func ssha(password string) string {
	salt := make([]byte, 8)
	_, _ = rand.Read(salt) // crypto/rand.Read never fails on Linux
	h := sha1.New()
	h.Write([]byte(password))
	h.Write(salt)
	return "{SSHA}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}
