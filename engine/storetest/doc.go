// Package storetest is the conformance suite of engine.Store: the contract
// of every method of Store, ReadTx and Tx written down as tests. The
// embedded SQLite store runs it in engine/sqlite/sqlite_test.go and the
// PostgreSQL store in engine/postgres/postgres_test.go; any other store
// must pass it too, from a test of its own:
//
//	func TestStore(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) engine.Store {
//			return openFreshStore(t)
//		})
//	}
//
// The suite checks what the engine relies on and nothing more: rows
// round-trip (times at nanosecond precision, in UTC), transactions commit
// all or nothing, savepoints undo only their own writes, lists come in the
// documented order, and a missing row is engine.ErrNotFound.
package storetest
