// Package sqlite is wxflow's embedded store: engine.Store on one SQLite
// file in WAL mode, with one writer connection (transactions begin IMMEDIATE), a
// read pool, prepared statements, migrations embedded in the binary and
// applied at open, and Backup (a consistent copy while a server writes).
// It passes engine/storetest.
package sqlite
