package quantity

import (
	"errors"
	"testing"

	"github.com/slipway/slipway/api/errdefs"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (int64, error)
		in      string
		want    int64
		wantErr error
	}{
		{"cpu millicores", MilliCPU, "250m", 250, nil},
		{"cpu cores", MilliCPU, "2", 2000, nil},
		{"cpu fraction", MilliCPU, "0.5", 500, nil},
		{"cpu garbage", MilliCPU, "fast", 0, errdefs.ErrInvalid},
		{"cpu negative", MilliCPU, "-1", 0, errdefs.ErrInvalid},
		{"cpu NaN", MilliCPU, "NaN", 0, errdefs.ErrInvalid},
		{"memory Mi", Bytes, "64Mi", 64 << 20, nil},
		{"memory Gi", Bytes, "1Gi", 1 << 30, nil},
		{"memory M", Bytes, "128M", 128e6, nil},
		{"memory bytes", Bytes, "1000", 1000, nil},
		{"memory garbage", Bytes, "lots", 0, errdefs.ErrInvalid},
		{"memory overflow", Bytes, "99999999999Ti", 0, errdefs.ErrInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.parse(tc.in)
			if !errors.Is(err, tc.wantErr) || got != tc.want {
				t.Errorf("parse(%q) = %d, %v; want %d, %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}
