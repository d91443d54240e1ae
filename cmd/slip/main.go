// Command slip is Slipway's command-line client; the commands live in
// package cli.
package main

import (
	"os"

	"github.com/slipway/slipway/cli"
)

func main() { os.Exit(cli.Main()) }
