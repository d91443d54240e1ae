// Package webhook parses and verifies the build webhooks Git providers
// send to /api/v1/projects/{p}/buildconfigs/{name}/webhooks/{secret}/{type}
// (OpenShift's URL shape): GitHub (X-GitHub-Event, X-GitHub-Delivery and,
// with a signing secret, the X-Hub-Signature-256 HMAC of the body), GitLab
// (X-Gitlab-Event, X-Gitlab-Event-UUID, X-Gitlab-Token) and Generic
// (OpenShift's generic payload). It is pure: no I/O, no clock, so the
// handler that uses it stays small and the rules are table-tested here.
package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Provider types, as they appear in the URL.
const (
	GitHub  = "github"
	GitLab  = "gitlab"
	Generic = "generic"
)

// Event kinds.
const (
	KindPush  = "push"
	KindPing  = "ping"
	KindOther = "other"
)

// Errors. ErrUnauthorized is a wrong or missing signature or token (401);
// ErrBadPayload a body that cannot be read (400).
var (
	ErrUnauthorized = errors.New("webhook signature or token rejected")
	ErrBadPayload   = errors.New("malformed webhook payload")
)

// Event is what a delivery says.
type Event struct {
	// Kind is push, ping or other (an event that never builds).
	Kind string
	// Name is the provider's event name (push, ping, Push Hook…).
	Name       string
	DeliveryID string
	// Ref is the pushed ref ("refs/heads/main"); DefaultBranch is the
	// repository's, when the payload says.
	Ref           string
	DefaultBranch string
	Commit        string
	Author        string
	Message       string
	// Env is extra build env from a Generic payload.
	Env []EnvVar
}

// EnvVar is a name and value from a Generic payload.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// SecretsEqual compares two secrets in time that depends only on their
// lengths' hash (both are hashed first).
func SecretsEqual(a, b string) bool {
	ha, hb := sha256.Sum256([]byte(a)), sha256.Sum256([]byte(b))
	return subtle.ConstantTimeCompare(ha[:], hb[:]) == 1
}

// Parse verifies and reads one delivery of the given provider type.
// signingSecret, when non-empty, must match GitHub's X-Hub-Signature-256
// (HMAC-SHA256 of the body) or GitLab's X-Gitlab-Token.
func Parse(provider string, h http.Header, body []byte, signingSecret string) (*Event, error) {
	switch provider {
	case GitHub:
		return parseGitHub(h, body, signingSecret)
	case GitLab:
		return parseGitLab(h, body, signingSecret)
	case Generic:
		return parseGeneric(h, body)
	}
	return nil, fmt.Errorf("%w: unknown webhook type %q (github, gitlab or generic)", ErrBadPayload, provider)
}

// Sign returns the X-Hub-Signature-256 value GitHub sends for body.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

type person struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (p person) String() string {
	switch {
	case p.Email == "":
		return p.Name
	case p.Name == "":
		return "<" + p.Email + ">"
	}
	return p.Name + " <" + p.Email + ">"
}

type commit struct {
	ID      string `json:"id"`
	Message string `json:"message"`
	Author  person `json:"author"`
}

func parseGitHub(h http.Header, body []byte, signingSecret string) (*Event, error) {
	if signingSecret != "" {
		got := h.Get("X-Hub-Signature-256")
		if got == "" || !hmac.Equal([]byte(got), []byte(Sign(signingSecret, body))) {
			return nil, fmt.Errorf("%w: X-Hub-Signature-256 does not match the body", ErrUnauthorized)
		}
	}
	ev := &Event{Name: h.Get("X-GitHub-Event"), DeliveryID: h.Get("X-GitHub-Delivery")}
	switch ev.Name {
	case "ping":
		ev.Kind = KindPing
		return ev, nil
	case "push":
		ev.Kind = KindPush
	case "":
		return nil, fmt.Errorf("%w: no X-GitHub-Event header", ErrBadPayload)
	default:
		ev.Kind = KindOther
		return ev, nil
	}
	var p struct {
		Ref        string  `json:"ref"`
		After      string  `json:"after"`
		Deleted    bool    `json:"deleted"`
		HeadCommit *commit `json:"head_commit"`
		Repository struct {
			DefaultBranch string `json:"default_branch"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if p.Ref == "" {
		return nil, fmt.Errorf("%w: a push without ref", ErrBadPayload)
	}
	ev.Ref, ev.DefaultBranch, ev.Commit = p.Ref, p.Repository.DefaultBranch, p.After
	if p.HeadCommit != nil {
		ev.Commit, ev.Message, ev.Author = p.HeadCommit.ID, p.HeadCommit.Message, p.HeadCommit.Author.String()
	}
	if p.Deleted {
		ev.Kind = KindOther // a deleted branch has nothing to build
	}
	return ev, nil
}

func parseGitLab(h http.Header, body []byte, signingSecret string) (*Event, error) {
	if signingSecret != "" && !SecretsEqual(h.Get("X-Gitlab-Token"), signingSecret) {
		return nil, fmt.Errorf("%w: X-Gitlab-Token does not match", ErrUnauthorized)
	}
	ev := &Event{Name: h.Get("X-Gitlab-Event"), DeliveryID: h.Get("X-Gitlab-Event-UUID")}
	if ev.DeliveryID == "" {
		ev.DeliveryID = h.Get("Idempotency-Key")
	}
	switch ev.Name {
	case "Push Hook", "Tag Push Hook":
		ev.Kind = KindPush
	case "":
		return nil, fmt.Errorf("%w: no X-Gitlab-Event header", ErrBadPayload)
	default:
		ev.Kind = KindOther
		return ev, nil
	}
	var p struct {
		Ref         string   `json:"ref"`
		After       string   `json:"after"`
		CheckoutSHA *string  `json:"checkout_sha"`
		Commits     []commit `json:"commits"`
		Project     struct {
			DefaultBranch string `json:"default_branch"`
		} `json:"project"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if p.Ref == "" {
		return nil, fmt.Errorf("%w: a push without ref", ErrBadPayload)
	}
	ev.Ref, ev.DefaultBranch, ev.Commit = p.Ref, p.Project.DefaultBranch, p.After
	if p.CheckoutSHA == nil {
		ev.Kind = KindOther // a deleted branch
		return ev, nil
	}
	ev.Commit = *p.CheckoutSHA
	for _, c := range p.Commits {
		if c.ID == ev.Commit {
			ev.Message, ev.Author = c.Message, c.Author.String()
		}
	}
	return ev, nil
}

// parseGeneric reads OpenShift's generic payload (optional):
// {"git":{"uri","ref","commit","author":{},"message"},"env":[…]}.
func parseGeneric(h http.Header, body []byte) (*Event, error) {
	ev := &Event{Kind: KindPush, Name: "push", DeliveryID: h.Get("X-Delivery-Id")}
	if len(strings.TrimSpace(string(body))) == 0 {
		return ev, nil
	}
	var p struct {
		Type string `json:"type"`
		Git  *struct {
			URI     string `json:"uri"`
			Ref     string `json:"ref"`
			Commit  string `json:"commit"`
			Author  person `json:"author"`
			Message string `json:"message"`
		} `json:"git"`
		Env []EnvVar `json:"env"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPayload, err)
	}
	if g := p.Git; g != nil {
		ev.Ref, ev.Commit, ev.Author, ev.Message = g.Ref, g.Commit, g.Author.String(), g.Message
	}
	for _, e := range p.Env {
		if e.Name == "" || strings.ContainsAny(e.Name, "=\x00") {
			return nil, fmt.Errorf("%w: env name %q", ErrBadPayload, e.Name)
		}
	}
	ev.Env = p.Env
	return ev, nil
}

// RefMatches reports whether a pushed ref builds a BuildConfig whose
// source ref is want (a branch, tag or full ref; empty = the repository's
// default branch). An event without ref (Generic) always matches; a
// default-branch config matches an event whose default branch is unknown
// only for main and master.
func RefMatches(want string, ev *Event) (bool, string) {
	if ev.Ref == "" {
		return true, ""
	}
	if want == "" {
		def := ev.DefaultBranch
		if def == "" {
			if ev.Ref == "refs/heads/main" || ev.Ref == "refs/heads/master" {
				return true, ""
			}
			return false, fmt.Sprintf("ref %s is not the default branch (main or master)", ev.Ref)
		}
		if ev.Ref == "refs/heads/"+def {
			return true, ""
		}
		return false, fmt.Sprintf("ref %s is not the default branch %s", ev.Ref, def)
	}
	for _, candidate := range []string{want, "refs/heads/" + want, "refs/tags/" + want} {
		if ev.Ref == candidate {
			return true, ""
		}
	}
	return false, fmt.Sprintf("ref %s does not match the build's ref %s", ev.Ref, want)
}
