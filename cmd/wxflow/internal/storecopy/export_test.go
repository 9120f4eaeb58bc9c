package storecopy

// SetCopied sets the hook called once the tables are copied, before the
// check that the SQLite store did not change, and returns a function that
// restores it.
func SetCopied(f func()) (restore func()) {
	old := copied
	copied = f
	return func() { copied = old }
}
