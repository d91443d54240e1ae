// Package e2e drives Slipway as a user does: it builds the real binaries,
// starts them as processes, and talks to them over the network.
package e2e
