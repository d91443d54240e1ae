package haproxy

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// ProcStatus is the master's "show proc" listing.
type ProcStatus struct {
	MasterPID     int
	Reloads       int
	FailedReloads int
	// Workers are the current generation's worker PIDs.
	Workers []int
	// OldWorkers still serve connections from before a reload.
	OldWorkers []int
}

var masterLine = regexp.MustCompile(`^(\d+)\s+master\s+(\d+)\s+\[failed:\s*(\d+)\]`)

// Status reads "show proc" from the master CLI.
func (p *Process) Status(ctx context.Context) (ProcStatus, error) {
	out, err := p.Master(ctx, "show proc")
	if err != nil {
		return ProcStatus{}, err
	}
	return parseShowProc(out)
}

// parseShowProc reads HAProxy 2.6's "show proc" output:
//
//	#<PID>          <type>          <reloads>       <uptime>        <version>
//	10468           master          1 [failed: 0]   0d00h00m01s     2.6.12
//	# workers
//	10568           worker          0               0d00h00m01s     2.6.12
//	# old workers
//	10471           worker          1               0d00h00m05s     2.6.12
//	# programs
func parseShowProc(out string) (ProcStatus, error) {
	var st ProcStatus
	section := "master"
	sawMaster := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
			continue
		case strings.HasPrefix(line, "#<PID>"):
			continue
		case line == "# workers":
			section = "workers"
			continue
		case line == "# old workers":
			section = "old"
			continue
		case strings.HasPrefix(line, "#"):
			section = "other"
			continue
		}
		if m := masterLine.FindStringSubmatch(line); m != nil {
			st.MasterPID, _ = strconv.Atoi(m[1])
			st.Reloads, _ = strconv.Atoi(m[2])
			st.FailedReloads, _ = strconv.Atoi(m[3])
			sawMaster = true
			continue
		}
		fields := strings.Fields(line)
		if len(fields) < 2 || fields[1] != "worker" {
			continue
		}
		pid, err := strconv.Atoi(fields[0])
		if err != nil {
			return st, fmt.Errorf("show proc: bad worker line %q", line)
		}
		switch section {
		case "workers":
			st.Workers = append(st.Workers, pid)
		case "old":
			st.OldWorkers = append(st.OldWorkers, pid)
		}
	}
	if !sawMaster {
		return st, fmt.Errorf("show proc: no master line in %q", out)
	}
	return st, nil
}
