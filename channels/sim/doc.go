// Package sim is a simulated WeChat channel for tests, `wxflow test` and
// `wxflow chat`. It applies the very same per-account policy as the real
// WeChat channel (wechat.NewPolicy), but Send only records the message in
// memory, in order, where tests and the chat console read it back. Tests
// can make the next sends fail the way WeChat's API does (a refusal with
// an error code, or an outcome that cannot be known) to exercise the
// engine's failure paths. It reads no clock: the engine's clock decides
// when things happen.
package sim
