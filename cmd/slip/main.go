// Command slip is Slipway's command-line client.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/internal/version"
)

func main() {
	root := &cobra.Command{
		Use:           "slip",
		Short:         "slip: the command-line client of Slipway",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(cmd *cobra.Command, _ []string) { fmt.Fprintln(cmd.OutOrStdout(), "slip", version.String()) },
	})
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "slip:", err)
		os.Exit(1)
	}
}
