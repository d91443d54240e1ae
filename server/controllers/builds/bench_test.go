package builds_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/api/client"
	"github.com/slipway/slipway/builder/webhook"
	"github.com/slipway/slipway/server"
	"github.com/slipway/slipway/server/servertest"
)

// benchEnv is newEnv for benchmarks.
func benchEnv(b *testing.B) *env {
	b.Helper()
	e := &env{Env: servertest.Start(b, server.Config{}), project: "shop"}
	e.c = e.Admin
	if err := e.c.Create(context.Background(), res(api.ProjectsResource), "", map[string]any{"metadata": map[string]any{"name": e.project}}, nil); err != nil {
		b.Fatal(err)
	}
	return e
}

// BenchmarkInstantiate starts builds of one BuildConfig through the API,
// one client at a time and from 8 concurrent clients racing for the next
// number (compare-and-swap retries included); it reports builds/s.
func BenchmarkInstantiate(b *testing.B) {
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			e := benchEnv(b)
			obj := api.BuildConfig{Metadata: api.ObjectMeta{Name: "web"}, Spec: bcSpec(func(s *api.BuildConfigSpec) {
				s.RunPolicy = api.RunPolicyParallel
				n := int32(0)
				s.SuccessfulBuildsHistoryLimit, s.FailedBuildsHistoryLimit = &n, &n
			})}
			if err := e.c.Create(context.Background(), res(api.BuildConfigsResource), e.project, obj, nil); err != nil {
				b.Fatal(err)
			}
			path := client.Path(res(api.BuildConfigsResource), e.project, "web", "instantiate")
			b.SetParallelism(clients)
			b.ResetTimer()
			var started atomic.Int64
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := e.c.Do(context.Background(), "POST", path, "", nil, nil); err != nil {
						b.Error(err)
						return
					}
					started.Add(1)
				}
			})
			b.ReportMetric(float64(started.Load())/b.Elapsed().Seconds(), "builds/s")
		})
	}
}

// BenchmarkWebhook is a signed GitHub push through the webhook endpoint:
// secret check, HMAC, delivery recorded and build created, per request.
func BenchmarkWebhook(b *testing.B) {
	e := benchEnv(b)
	obj := api.BuildConfig{Metadata: api.ObjectMeta{Name: "web"}, Spec: bcSpec(func(s *api.BuildConfigSpec) {
		s.RunPolicy = api.RunPolicyParallel
		s.Triggers = []api.BuildTriggerPolicy{{Type: api.GitHubWebHookBuildTrigger, GitHubWebHook: &api.WebHookTrigger{Secret: "gh-url-secret", SigningSecret: "hmac-key"}}}
	})}
	if err := e.c.Create(context.Background(), res(api.BuildConfigsResource), e.project, obj, nil); err != nil {
		b.Fatal(err)
	}
	httpc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := e.Server.URL() + api.WebhookPath(e.project, "web", "gh-url-secret", "github")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		body, _ := json.Marshal(map[string]any{"ref": "refs/heads/main", "after": fmt.Sprintf("%040x", i)})
		req, _ := http.NewRequest("POST", url, bytes.NewReader(body))
		req.Header.Set("X-GitHub-Event", "push")
		req.Header.Set("X-GitHub-Delivery", fmt.Sprintf("d-%d", i))
		req.Header.Set("X-Hub-Signature-256", webhook.Sign("hmac-key", body))
		resp, err := httpc.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("delivery %d: %d", i, resp.StatusCode)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "deliveries/s")
}
