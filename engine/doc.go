// Package engine is wxflow's runtime: it ingests events, keeps contacts,
// sessions, runs, timers and the outbox in a Store, runs steps until a run
// suspends or ends, and applies flow versions and reloads. It imports no
// store and no concrete channel: the store packages (engine/sqlite, the
// embedded default) implement Store and pass engine/storetest, and cmd
// wires a store and the channels in. engine/sandbox runs flows on a
// simulated account; engine/wechatstate keeps the WeChat channel's tokens
// and media ids in a Store.
package engine
