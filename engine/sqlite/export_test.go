package sqlite

// SetBackupWritten sets the hook Backup calls once the copy is written
// and checked, before it takes its name, and returns a function that
// restores it.
func SetBackupWritten(f func(tmp, to string)) (restore func()) {
	old := backupWritten
	backupWritten = f
	return func() { backupWritten = old }
}
