package authn

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/auth/tokens"
)

type userMap map[string]*api.Object

func (m userMap) Get(_, name string) (*api.Object, bool) { o, ok := m[name]; return o, ok }

// BenchmarkAuthenticateToken measures the per-request token check with
// 10,000 live tokens of 1,000 users in 500 groups, and reports its p99.
func BenchmarkAuthenticateToken(b *testing.B) {
	const live, nUsers = 10_000, 1_000
	users := userMap{}
	var groupObjs []*api.Object
	for u := 0; u < nUsers; u++ {
		spec, _ := json.Marshal(api.UserSpec{})
		users[fmt.Sprint("user-", u)] = &api.Object{Metadata: api.ObjectMeta{Name: fmt.Sprint("user-", u)}, Spec: spec}
	}
	for g := 0; g < 500; g++ {
		spec, _ := json.Marshal(api.GroupSpec{Users: []string{fmt.Sprint("user-", g), fmt.Sprint("user-", g+1)}})
		groupObjs = append(groupObjs, &api.Object{Metadata: api.ObjectMeta{Name: fmt.Sprint("group-", g)}, Spec: spec})
	}
	groups := NewGroupIndex()
	groups.Replace(groupObjs)
	index := tokens.NewIndex()
	var objs []*api.Object
	var presented []string
	exp := time.Now().Add(time.Hour)
	for i := 0; i < live; i++ {
		token, name, err := tokens.Generate()
		if err != nil {
			b.Fatal(err)
		}
		spec, _ := json.Marshal(api.TokenSpec{User: fmt.Sprint("user-", i%nUsers), Kind: api.LoginToken, ExpiresAt: &exp})
		objs = append(objs, &api.Object{Metadata: api.ObjectMeta{Name: name}, Spec: spec})
		presented = append(presented, token)
	}
	index.Replace(objs)
	a := &Authenticator{Tokens: index, Users: users, Groups: groups, Now: time.Now}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if _, err := a.AuthenticateToken(context.Background(), presented[i%live]); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(t0))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "p99-µs")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "p50-µs")
}
