package webhook_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/slipway/slipway/builder/webhook"
)

const githubPush = `{"ref":"refs/heads/main","after":"0123abcd","repository":{"default_branch":"main"},
 "head_commit":{"id":"0123abcd","message":"Fix it","author":{"name":"Ada","email":"ada@example.com"}}}`

const gitlabPush = `{"ref":"refs/heads/dev","after":"feed","checkout_sha":"feed","project":{"default_branch":"main"},
 "commits":[{"id":"beef","message":"old"},{"id":"feed","message":"New","author":{"name":"Bob","email":"bob@example.com"}}]}`

func hdr(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		provider string
		header   http.Header
		body     string
		signing  string
		wantErr  error
		want     webhook.Event
	}{
		{"github push unsigned", webhook.GitHub, hdr("X-GitHub-Event", "push", "X-GitHub-Delivery", "d1"), githubPush, "", nil,
			webhook.Event{Kind: "push", Name: "push", DeliveryID: "d1", Ref: "refs/heads/main", DefaultBranch: "main", Commit: "0123abcd", Author: "Ada <ada@example.com>", Message: "Fix it"}},
		{"github push signed ok", webhook.GitHub, hdr("X-GitHub-Event", "push", "X-GitHub-Delivery", "d2", "X-Hub-Signature-256", webhook.Sign("k3y", []byte(githubPush))), githubPush, "k3y", nil,
			webhook.Event{Kind: "push", Name: "push", DeliveryID: "d2", Ref: "refs/heads/main", DefaultBranch: "main", Commit: "0123abcd", Author: "Ada <ada@example.com>", Message: "Fix it"}},
		{"github push signed with another key", webhook.GitHub, hdr("X-GitHub-Event", "push", "X-Hub-Signature-256", webhook.Sign("other", []byte(githubPush))), githubPush, "k3y", webhook.ErrUnauthorized, webhook.Event{}},
		{"github push signature missing", webhook.GitHub, hdr("X-GitHub-Event", "push"), githubPush, "k3y", webhook.ErrUnauthorized, webhook.Event{}},
		{"github body tampered", webhook.GitHub, hdr("X-GitHub-Event", "push", "X-Hub-Signature-256", webhook.Sign("k3y", []byte(githubPush))), githubPush + " ", "k3y", webhook.ErrUnauthorized, webhook.Event{}},
		{"github ping", webhook.GitHub, hdr("X-GitHub-Event", "ping", "X-GitHub-Delivery", "p"), `{"zen":"x"}`, "", nil, webhook.Event{Kind: "ping", Name: "ping", DeliveryID: "p"}},
		{"github ping is signed too", webhook.GitHub, hdr("X-GitHub-Event", "ping"), `{}`, "k3y", webhook.ErrUnauthorized, webhook.Event{}},
		{"github other event", webhook.GitHub, hdr("X-GitHub-Event", "issues"), `{}`, "", nil, webhook.Event{Kind: "other", Name: "issues"}},
		{"github no event header", webhook.GitHub, hdr(), githubPush, "", webhook.ErrBadPayload, webhook.Event{}},
		{"github malformed", webhook.GitHub, hdr("X-GitHub-Event", "push"), `{`, "", webhook.ErrBadPayload, webhook.Event{}},
		{"github branch deleted", webhook.GitHub, hdr("X-GitHub-Event", "push"), `{"ref":"refs/heads/x","deleted":true}`, "", nil, webhook.Event{Kind: "other", Name: "push", Ref: "refs/heads/x"}},
		{"gitlab push", webhook.GitLab, hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Event-UUID", "u1", "X-Gitlab-Token", "tok"), gitlabPush, "tok", nil,
			webhook.Event{Kind: "push", Name: "Push Hook", DeliveryID: "u1", Ref: "refs/heads/dev", DefaultBranch: "main", Commit: "feed", Author: "Bob <bob@example.com>", Message: "New"}},
		{"gitlab wrong token", webhook.GitLab, hdr("X-Gitlab-Event", "Push Hook", "X-Gitlab-Token", "nope"), gitlabPush, "tok", webhook.ErrUnauthorized, webhook.Event{}},
		{"gitlab token not required", webhook.GitLab, hdr("X-Gitlab-Event", "Tag Push Hook"), gitlabPush, "", nil,
			webhook.Event{Kind: "push", Name: "Tag Push Hook", Ref: "refs/heads/dev", DefaultBranch: "main", Commit: "feed", Author: "Bob <bob@example.com>", Message: "New"}},
		{"gitlab other", webhook.GitLab, hdr("X-Gitlab-Event", "Issue Hook"), `{}`, "", nil, webhook.Event{Kind: "other", Name: "Issue Hook"}},
		{"generic empty", webhook.Generic, hdr("X-Delivery-Id", "g"), ``, "", nil, webhook.Event{Kind: "push", Name: "push", DeliveryID: "g"}},
		{"generic payload", webhook.Generic, hdr(), `{"type":"Git","git":{"ref":"main","commit":"abc1","message":"m","author":{"name":"C"}},"env":[{"name":"A","value":"1"}]}`, "", nil,
			webhook.Event{Kind: "push", Name: "push", Ref: "main", Commit: "abc1", Author: "C", Message: "m", Env: []webhook.EnvVar{{Name: "A", Value: "1"}}}},
		{"generic bad env", webhook.Generic, hdr(), `{"env":[{"name":"A=B"}]}`, "", webhook.ErrBadPayload, webhook.Event{}},
		{"unknown provider", "bitbucket", hdr(), `{}`, "", webhook.ErrBadPayload, webhook.Event{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ev, err := webhook.Parse(tc.provider, tc.header, []byte(tc.body), tc.signing)
			if !errors.Is(err, tc.wantErr) || (err == nil) != (tc.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			if ev.Kind != tc.want.Kind || ev.Name != tc.want.Name || ev.DeliveryID != tc.want.DeliveryID || ev.Ref != tc.want.Ref ||
				ev.DefaultBranch != tc.want.DefaultBranch || ev.Commit != tc.want.Commit || ev.Author != tc.want.Author ||
				ev.Message != tc.want.Message || len(ev.Env) != len(tc.want.Env) {
				t.Errorf("event = %+v, want %+v", *ev, tc.want)
			}
		})
	}
}

func TestRefMatches(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, want, ref, def string
		match                bool
	}{
		{"branch", "main", "refs/heads/main", "", true},
		{"full ref", "refs/heads/dev", "refs/heads/dev", "", true},
		{"tag", "v1", "refs/tags/v1", "", true},
		{"other branch", "main", "refs/heads/dev", "main", false},
		{"default branch known", "", "refs/heads/trunk", "trunk", true},
		{"not the default branch", "", "refs/heads/dev", "trunk", false},
		{"default branch unknown: main", "", "refs/heads/main", "", true},
		{"default branch unknown: other", "", "refs/heads/dev", "", false},
		{"no ref in the event", "main", "", "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ok, reason := webhook.RefMatches(tc.want, &webhook.Event{Ref: tc.ref, DefaultBranch: tc.def})
			if ok != tc.match || (ok == (reason != "")) {
				t.Errorf("RefMatches(%q, %q) = %v %q, want %v", tc.want, tc.ref, ok, reason, tc.match)
			}
		})
	}
}

func TestSecretsEqual(t *testing.T) {
	t.Parallel()
	if !webhook.SecretsEqual("abc", "abc") || webhook.SecretsEqual("abc", "abd") || webhook.SecretsEqual("abc", "abcd") || webhook.SecretsEqual("", "x") {
		t.Error("SecretsEqual is wrong")
	}
}
