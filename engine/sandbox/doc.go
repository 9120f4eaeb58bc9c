// Package sandbox runs flows on a simulated WeChat account (channels/sim)
// with a virtual clock and an embedded store: what `wxflow serve` runs
// without a WeChat account, `wxflow chat`, `wxflow test` and the console's
// simulator use.
package sandbox
