package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/server/store"
)

// TestFollowingAnUnschedulablePodSaysWhy: following the log of a pod the
// scheduler could not place answers at once with the scheduler's reason,
// rather than waiting for a node that may never come.
func TestFollowingAnUnschedulablePodSaysWhy(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, store.Config{})
	if err := e.client.Create(ctx, projects, "", api.Project{Metadata: api.ObjectMeta{Name: "logs"}}, nil); err != nil {
		t.Fatal(err)
	}
	pods := mustLookup("pods")
	pod := api.Pod{
		Metadata: api.ObjectMeta{Name: "web"},
		Spec:     api.PodSpec{Containers: []api.Container{{Name: "web", Image: "example/web:1"}}},
	}
	if err := e.client.Create(ctx, pods, "logs", pod, nil); err != nil {
		t.Fatal(err)
	}
	status := map[string]any{"status": map[string]any{"phase": "Pending", "conditions": []map[string]any{{
		"type": api.PodScheduled, "status": "False", "reason": "Unschedulable", "message": "0/0 nodes are available",
	}}}}
	if err := e.client.Patch(ctx, pods, "logs", "web", status, true, nil); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.url+"/api/v1/projects/logs/pods/web/log?follow=true", nil)
	req.Header.Set("Authorization", "Bearer "+e.adminToken(t))
	resp, err := clientFor(t, e).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body strings.Builder
	_, _ = io.Copy(&body, resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body.String(), "not scheduled: 0/0 nodes are available") {
		t.Fatalf("follow of an unschedulable pod: %d %s", resp.StatusCode, body.String())
	}
}
