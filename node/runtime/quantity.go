package runtime

import (
	"fmt"

	"github.com/slipway/slipway/api/quantity"
)

// parseMilliCPU and parseBytes read Kubernetes quantities as the runtime's
// own Invalid error class.
func parseMilliCPU(q string) (int64, error) {
	n, err := quantity.MilliCPU(q)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return n, nil
}

func parseBytes(q string) (int64, error) {
	n, err := quantity.Bytes(q)
	if err != nil {
		return 0, fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	return n, nil
}
