// Command slipway-container-log is the program containerd's shim starts
// beside each container to write its stdout and stderr to its log file
// (see package containerlog). It is a binary of its own, not a subcommand
// of slipway, so that one runs per container at ≈ 2.5 MiB instead of the
// ≈ 22 MiB the whole slipway binary takes once initialised.
package main

import (
	"os"

	"github.com/slipway/slipway/node/containerlog"
)

func main() { os.Exit(containerlog.Main(os.Args)) }
