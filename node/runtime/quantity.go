package runtime

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// parseMilliCPU parses a Kubernetes CPU quantity ("250m", "1", "0.5") into
// millicores.
func parseMilliCPU(q string) (int64, error) {
	if v, ok := strings.CutSuffix(q, "m"); ok {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%w: cpu quantity %q", ErrInvalid, q)
		}
		return n, nil
	}
	f, err := strconv.ParseFloat(q, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) {
		return 0, fmt.Errorf("%w: cpu quantity %q", ErrInvalid, q)
	}
	return int64(math.Ceil(f * 1000)), nil
}

// parseBytes parses a Kubernetes memory quantity ("64Mi", "1G", "1000")
// into bytes.
func parseBytes(q string) (int64, error) {
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
	if err != nil || f < 0 || math.IsInf(f, 0) || f*mult > math.MaxInt64 {
		return 0, fmt.Errorf("%w: memory quantity %q", ErrInvalid, q)
	}
	return int64(math.Ceil(f * mult)), nil
}
