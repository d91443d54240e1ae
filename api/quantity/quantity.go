// Package quantity parses Kubernetes resource quantities: CPU as millicores
// ("250m", "1", "0.5") and memory as bytes ("64Mi", "1Gi", "128M", "1000").
package quantity

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/slipway/slipway/api/errdefs"
)

// MilliCPU parses a CPU quantity into millicores.
func MilliCPU(q string) (int64, error) {
	if v, ok := strings.CutSuffix(q, "m"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("cpu quantity %q: %w", q, errdefs.ErrInvalid)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f > math.MaxInt64/1000 {
		return 0, fmt.Errorf("cpu quantity %q: %w", q, errdefs.ErrInvalid)
	}
	return int64(math.Ceil(f * 1000)), nil
}

// Bytes parses a memory quantity into bytes.
func Bytes(q string) (int64, error) {
	suffixes := []struct {
		s string
		m float64
	}{
		{"Ki", 1 << 10}, {"Mi", 1 << 20}, {"Gi", 1 << 30}, {"Ti", 1 << 40},
		{"k", 1e3}, {"K", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12},
	}
	num, mult := q, 1.0
	for _, s := range suffixes {
		if v, ok := strings.CutSuffix(q, s.s); ok {
			num, mult = v, s.m
			break
		}
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) || f*mult > math.MaxInt64 {
		return 0, fmt.Errorf("memory quantity %q: %w", q, errdefs.ErrInvalid)
	}
	return int64(math.Ceil(f * mult)), nil
}
