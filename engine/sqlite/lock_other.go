//go:build !unix

package sqlite

import "os"

// lockFile opens the database file; other systems than Unix take no lock
// (one serve per file is then the operator's to keep).
func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

// InUse reports false: other systems than Unix take no lock.
func InUse(path string) (bool, error) { return false, nil }
