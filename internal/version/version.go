// Package version reports the build's version, set at link time by the
// Makefile (-X github.com/slipway/slipway/internal/version.Version=…).
package version

import "runtime/debug"

// Version is the release or commit this binary was built from.
var Version = "dev"

// String returns the version with the VCS revision when known.
func String() string {
	if Version != "dev" {
		return Version
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return "dev-" + s.Value[:12]
			}
		}
	}
	return Version
}
