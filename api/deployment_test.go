package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestWorkloadValidation(t *testing.T) {
	t.Parallel()
	cat := NewCatalogue()
	lookup := func(p string) *Resource { r, _ := cat.Lookup(p); return r }
	deployments, replicasets, services, endpoints, jobs := lookup("deployments"), lookup("replicasets"), lookup("services"), lookup("endpoints"), lookup("jobs")
	const tmpl = `"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"localhost:8443/shop/web@sha256:` +
		`1111111111111111111111111111111111111111111111111111111111111111"}]}}`
	deploy := func(extra string) string {
		return `{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},` + tmpl + extra + `}}`
	}
	job := func(spec string) string { return `{"metadata":{"name":"j"},"spec":{` + spec + `}}` }
	jobTmpl := `"template":{"spec":{"restartPolicy":"Never","containers":[{"name":"t","image":"busybox:1"}]}}`
	tests := []struct {
		name      string
		res       *Resource
		body      string
		wantErr   error
		wantField string
	}{
		{"valid deployment", deployments, deploy(`,"replicas":3,"strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"50%","maxUnavailable":0}},` +
			`"minReadySeconds":5,"progressDeadlineSeconds":60,"revisionHistoryLimit":2,"paused":true,` +
			`"triggers":[{"type":"ImageChange","imageChange":{"from":"shop/web:latest","containerNames":["app"],"automatic":true}}]`), nil, ""},
		{"deployment without spec", deployments, `{"metadata":{"name":"web"}}`, errdefs.ErrInvalid, "spec"},
		{"unsupported deployment field", deployments, deploy(`,"minReadySecond":1`), errdefs.ErrBadRequest, "spec.minReadySecond"},
		{"unsupported template field", deployments, `{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"name":"x"},"spec":{}}}}`, errdefs.ErrBadRequest, "spec.template.metadata.name"},
		{"matchExpressions unsupported", deployments, `{"metadata":{"name":"web"},"spec":{"selector":{"matchExpressions":[]},` + tmpl + `}}`, errdefs.ErrBadRequest, "spec.selector.matchExpressions"},
		{"no selector", deployments, `{"metadata":{"name":"web"},"spec":{` + tmpl + `}}`, errdefs.ErrInvalid, "spec.selector.matchLabels"},
		{"selector does not match template", deployments, `{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"api"}},` + tmpl + `}}`, errdefs.ErrInvalid, "spec.template.metadata.labels"},
		{"template pod error names its path", deployments, `{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"app","image":"x@md5:1"}]}}}}`, errdefs.ErrInvalid, "spec.template.spec.containers[0].image"},
		{"template without containers", deployments, `{"metadata":{"name":"web"},"spec":{"selector":{"matchLabels":{"app":"web"}},"template":{"metadata":{"labels":{"app":"web"}},"spec":{}}}}`, errdefs.ErrInvalid, "spec.template.spec.containers"},
		{"negative replicas", deployments, deploy(`,"replicas":-1`), errdefs.ErrInvalid, "spec.replicas"},
		{"unknown strategy", deployments, deploy(`,"strategy":{"type":"BlueGreen"}`), errdefs.ErrInvalid, "spec.strategy.type"},
		{"rollingUpdate with Recreate", deployments, deploy(`,"strategy":{"type":"Recreate","rollingUpdate":{}}`), errdefs.ErrInvalid, "spec.strategy.rollingUpdate"},
		{"surge over 100%", deployments, deploy(`,"strategy":{"rollingUpdate":{"maxSurge":"150%"}}`), errdefs.ErrInvalid, "spec.strategy.rollingUpdate.maxSurge"},
		{"surge not a percentage", deployments, deploy(`,"strategy":{"rollingUpdate":{"maxSurge":"ten"}}`), errdefs.ErrInvalid, "spec.strategy.rollingUpdate.maxSurge"},
		{"both zero", deployments, deploy(`,"strategy":{"rollingUpdate":{"maxSurge":0,"maxUnavailable":"0%"}}`), errdefs.ErrInvalid, "spec.strategy.rollingUpdate"},
		{"deadline not above minReady", deployments, deploy(`,"minReadySeconds":10,"progressDeadlineSeconds":10`), errdefs.ErrInvalid, "spec.progressDeadlineSeconds"},
		{"unknown trigger", deployments, deploy(`,"triggers":[{"type":"ConfigChange"}]`), errdefs.ErrInvalid, "spec.triggers[0].type"},
		{"trigger from not a tag", deployments, deploy(`,"triggers":[{"type":"ImageChange","imageChange":{"from":"web","containerNames":["app"]}}]`), errdefs.ErrInvalid, "spec.triggers[0].imageChange.from"},
		{"trigger names no container", deployments, deploy(`,"triggers":[{"type":"ImageChange","imageChange":{"from":"web:latest","containerNames":["sidecar"]}}]`), errdefs.ErrInvalid, "spec.triggers[0].imageChange.containerNames[0]"},
		{"deployment data", deployments, `{"metadata":{"name":"web"},"data":{}}`, errdefs.ErrBadRequest, "data"},

		{"valid replica set", replicasets, `{"metadata":{"name":"web-1"},"spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},` + tmpl + `}}`, nil, ""},
		{"replica set without selector", replicasets, `{"metadata":{"name":"web-1"},"spec":{` + tmpl + `}}`, errdefs.ErrInvalid, "spec.selector.matchLabels"},

		{"valid service", services, `{"metadata":{"name":"web"},"spec":{"selector":{"app":"web"},"type":"ClusterIP","ports":[{"name":"http","port":80,"targetPort":"http"},{"name":"dns","port":53,"protocol":"UDP","targetPort":5353}]}}`, nil, ""},
		{"service type NodePort", services, `{"metadata":{"name":"web"},"spec":{"type":"NodePort","ports":[{"port":80}]}}`, errdefs.ErrInvalid, "spec.type"},
		{"service field unsupported", services, `{"metadata":{"name":"web"},"spec":{"sessionAffinity":"None","ports":[{"port":80}]}}`, errdefs.ErrBadRequest, "spec.sessionAffinity"},
		{"service without ports", services, `{"metadata":{"name":"web"},"spec":{"selector":{"app":"web"}}}`, errdefs.ErrInvalid, "spec.ports"},
		{"unnamed ports", services, `{"metadata":{"name":"web"},"spec":{"ports":[{"port":80},{"port":81}]}}`, errdefs.ErrInvalid, "spec.ports[0].name"},
		{"bad port", services, `{"metadata":{"name":"web"},"spec":{"ports":[{"port":70000}]}}`, errdefs.ErrInvalid, "spec.ports[0].port"},
		{"bad target port name", services, `{"metadata":{"name":"web"},"spec":{"ports":[{"port":80,"targetPort":"a-very-long-port-name"}]}}`, errdefs.ErrInvalid, "spec.ports[0].targetPort"},
		{"bad cluster IP", services, `{"metadata":{"name":"web"},"spec":{"clusterIP":"None","ports":[{"port":80}]}}`, errdefs.ErrInvalid, "spec.clusterIP"},
		{"bad selector", services, `{"metadata":{"name":"web"},"spec":{"selector":{"a b":"c"},"ports":[{"port":80}]}}`, errdefs.ErrInvalid, "spec.selector[a b]"},

		{"valid endpoints", endpoints, `{"metadata":{"name":"web"},"spec":{"subsets":[{"addresses":[{"ip":"10.0.0.1","targetRef":{"kind":"Pod","name":"p"}}],"ports":[{"port":80}]}]}}`, nil, ""},
		{"endpoints bad IP", endpoints, `{"metadata":{"name":"web"},"spec":{"subsets":[{"notReadyAddresses":[{"ip":"ten"}]}]}}`, errdefs.ErrInvalid, "spec.subsets[0].notReadyAddresses[0].ip"},
		{"endpoints status", endpoints, `{"metadata":{"name":"web"},"status":{}}`, errdefs.ErrBadRequest, "status"},

		{"valid job", jobs, job(jobTmpl + `,"completions":3,"parallelism":2,"backoffLimit":1,"activeDeadlineSeconds":60`), nil, ""},
		{"job restarting always", jobs, job(`"template":{"spec":{"containers":[{"name":"t","image":"busybox:1"}]}}`), errdefs.ErrInvalid, "spec.template.spec.restartPolicy"},
		{"job zero completions", jobs, job(jobTmpl + `,"completions":0`), errdefs.ErrInvalid, "spec.completions"},
		{"job selector unsupported", jobs, job(jobTmpl + `,"selector":{}`), errdefs.ErrBadRequest, "spec.selector"},
		{"job deadline", jobs, job(jobTmpl + `,"activeDeadlineSeconds":0`), errdefs.ErrInvalid, "spec.activeDeadlineSeconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decodeAndValidate(tc.res, []byte(tc.body))
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("err = %v, want class %v", err, tc.wantErr)
			}
			if got := errdefs.FieldOf(err); got != tc.wantField {
				t.Fatalf("field = %q, want %q (%v)", got, tc.wantField, err)
			}
		})
	}
}

func TestSurgeAndUnavailable(t *testing.T) {
	t.Parallel()
	pct := func(s string) *IntOrString { v := FromString(s); return &v }
	num := func(n int32) *IntOrString { v := FromInt(n); return &v }
	tests := []struct {
		name              string
		replicas          int32
		surge, unavail    *IntOrString
		wantSurge, wantUn int32
	}{
		{"defaults 25% of 10", 10, nil, nil, 3, 2},
		{"defaults of 1", 1, nil, nil, 1, 0},
		{"numbers", 4, num(1), num(2), 1, 2},
		{"both round to zero", 3, pct("10%"), pct("10%"), 1, 0},
		{"zero surge, tiny unavailable", 3, num(0), pct("10%"), 0, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := DeploymentSpec{Replicas: &tc.replicas, Strategy: Strategy{RollingUpdate: &RollingUpdateParams{MaxSurge: tc.surge, MaxUnavailable: tc.unavail}}}
			surge, unavail := s.SurgeAndUnavailable()
			if surge != tc.wantSurge || unavail != tc.wantUn {
				t.Fatalf("got surge %d unavailable %d, want %d %d", surge, unavail, tc.wantSurge, tc.wantUn)
			}
		})
	}
}

func TestParseImageStreamTag(t *testing.T) {
	t.Parallel()
	for ref, want := range map[string]string{"web:latest": "|web|latest", "shop/web:v1.2": "shop|web|v1.2"} {
		p, n, tag, err := ParseImageStreamTag(ref)
		if err != nil || strings.Join([]string{p, n, tag}, "|") != want {
			t.Errorf("%s: %s %s %s %v", ref, p, n, tag, err)
		}
	}
	for _, bad := range []string{"web", "web:", ":x", "Shop/web:x", "a/b/c:x", "web:a/b"} {
		if _, _, _, err := ParseImageStreamTag(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
