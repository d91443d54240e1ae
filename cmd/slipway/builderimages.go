package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/cobra"

	"github.com/slipway/slipway/builder/images"
)

// defaultBuilderImages is the images directory beside the executable
// (bin/images after `make build`), if it exists.
func defaultBuilderImages() string {
	exe, err := os.Executable()
	if err != nil {
		return ""
	}
	dir := filepath.Join(filepath.Dir(exe), "images")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

func newBuilderImages() *cobra.Command {
	var opts images.Options
	cmd := &cobra.Command{
		Use:   "builder-images DIR",
		Short: "Build the S2I builder images offline into DIR",
		Long: `Build Slipway's S2I builder images (s2i-static, s2i-go, s2i-python) as OCI
image archives in DIR, from files on this machine only: busybox-static, the Go
installation and Debian's python3. slipway up and slipway node import them.`,
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			paths, err := images.BuildAll(cmd.Context(), args[0], opts)
			if err != nil {
				return err
			}
			names := make([]string, 0, len(paths))
			for n := range paths {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fi, err := os.Stat(paths[n])
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%.1f MB\n", n, paths[n], float64(fi.Size())/1e6)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&opts.GoRoot, "goroot", "", "Go installation copied into s2i-go (default: go env GOROOT)")
	cmd.Flags().StringVar(&opts.Python, "python", "", "python3 interpreter copied into s2i-python (default /usr/bin/python3)")
	cmd.Flags().StringSliceVar(&opts.GoWarm, "go-warm", nil, "packages precompiled into s2i-go's build cache (e.g. net/http)")
	cmd.Flags().StringSliceVar(&opts.Only, "only", nil, "build only these images (s2i-static, s2i-go, s2i-python)")
	return cmd
}
