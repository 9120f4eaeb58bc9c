// Package channels defines the Channel interface and the normalised Event
// and Message types that connect the engine to a messaging platform. The
// WeChat channel (channels/wechat) and the simulated one (channels/sim)
// live in subpackages.
package channels
