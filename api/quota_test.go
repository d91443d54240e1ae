package api

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestQuotaAndLimitRangeValidation(t *testing.T) {
	cat := NewCatalogue()
	quotas, _ := cat.Lookup(ResourceQuotasResource)
	ranges, _ := cat.Lookup(LimitRangesResource)
	tests := []struct {
		name      string
		res       *Resource
		spec      string
		wantErr   error
		wantField string
	}{
		{"quota ok", quotas, `{"hard":{"pods":"10","requests.cpu":"2","requests.memory":"2Gi","limits.cpu":"4","limits.memory":"4Gi","count/deployments":"3","count/services":"3","count/configmaps":"5"}}`, nil, ""},
		{"quota empty", quotas, `{"hard":{}}`, errdefs.ErrInvalid, "spec.hard"},
		{"quota unknown key", quotas, `{"hard":{"requests.gpu":"1"}}`, errdefs.ErrInvalid, "spec.hard[requests.gpu]"},
		{"quota uncounted kind", quotas, `{"hard":{"count/pods":"1"}}`, errdefs.ErrInvalid, "spec.hard[count/pods]"},
		{"quota bad memory", quotas, `{"hard":{"requests.memory":"lots"}}`, errdefs.ErrInvalid, "spec.hard[requests.memory]"},
		{"quota bad cpu", quotas, `{"hard":{"limits.cpu":"fast"}}`, errdefs.ErrInvalid, "spec.hard[limits.cpu]"},
		{"quota fractional count", quotas, `{"hard":{"pods":"1.5"}}`, errdefs.ErrInvalid, "spec.hard[pods]"},
		{"quota unknown field", quotas, `{"hard":{"pods":"1"},"soft":{}}`, errdefs.ErrBadRequest, "spec.soft"},
		{"limitrange ok", ranges, `{"limits":[{"type":"Container","min":{"cpu":"10m"},"defaultRequest":{"cpu":"100m","memory":"64Mi"},"default":{"cpu":"500m","memory":"256Mi"},"max":{"memory":"1Gi"}}]}`, nil, ""},
		{"limitrange no limits", ranges, `{"limits":[]}`, errdefs.ErrInvalid, "spec.limits"},
		{"limitrange pod type", ranges, `{"limits":[{"type":"Pod"}]}`, errdefs.ErrInvalid, "spec.limits[0].type"},
		{"limitrange unknown resource", ranges, `{"limits":[{"type":"Container","max":{"gpu":"1"}}]}`, errdefs.ErrInvalid, "spec.limits[0].max.gpu"},
		{"limitrange bad quantity", ranges, `{"limits":[{"type":"Container","default":{"memory":"big"}}]}`, errdefs.ErrInvalid, "spec.limits[0].default.memory"},
		{"limitrange default above max", ranges, `{"limits":[{"type":"Container","default":{"memory":"2Gi"},"max":{"memory":"1Gi"}}]}`, errdefs.ErrInvalid, "spec.limits[0].default.memory"},
		{"limitrange min above default request", ranges, `{"limits":[{"type":"Container","min":{"cpu":"1"},"defaultRequest":{"cpu":"100m"}}]}`, errdefs.ErrInvalid, "spec.limits[0].min.cpu"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.res.Validate(&Object{Spec: json.RawMessage(tc.spec)})
			if !errors.Is(err, tc.wantErr) || tc.wantErr == nil && err != nil {
				t.Fatalf("Validate = %v, want %v", err, tc.wantErr)
			}
			var fe *errdefs.FieldError
			if tc.wantErr != nil && (!errors.As(err, &fe) || fe.Field != tc.wantField) {
				t.Errorf("Validate = %v, want field %q", err, tc.wantField)
			}
		})
	}
}

func TestFormatQuota(t *testing.T) {
	for _, tc := range []struct{ key, in, want string }{
		{QuotaRequestsMemory, "1792Mi", "1792Mi"}, {QuotaRequestsMemory, "2048Mi", "2Gi"}, {QuotaLimitsMemory, "1000", "1000"},
		{QuotaRequestsCPU, "1500m", "1500m"}, {QuotaLimitsCPU, "2", "2"}, {QuotaPods, "7", "7"},
	} {
		v, err := ParseQuota(tc.key, tc.in)
		if got := FormatQuota(tc.key, v); err != nil || got != tc.want {
			t.Errorf("FormatQuota(%s, ParseQuota(%q)) = %q, %v; want %q", tc.key, tc.in, got, err, tc.want)
		}
	}
}
