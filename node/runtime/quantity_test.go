package runtime

import (
	"errors"
	"testing"
)

func TestParseQuantities(t *testing.T) {
	tests := []struct {
		name    string
		parse   func(string) (int64, error)
		in      string
		want    int64
		wantErr error
	}{
		{"cpu millicores", parseMilliCPU, "250m", 250, nil},
		{"cpu cores", parseMilliCPU, "2", 2000, nil},
		{"cpu fraction", parseMilliCPU, "0.5", 500, nil},
		{"cpu garbage", parseMilliCPU, "fast", 0, ErrInvalid},
		{"cpu negative", parseMilliCPU, "-1", 0, ErrInvalid},
		{"memory Mi", parseBytes, "64Mi", 64 << 20, nil},
		{"memory Gi", parseBytes, "1Gi", 1 << 30, nil},
		{"memory M", parseBytes, "128M", 128e6, nil},
		{"memory bytes", parseBytes, "1000", 1000, nil},
		{"memory garbage", parseBytes, "lots", 0, ErrInvalid},
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
