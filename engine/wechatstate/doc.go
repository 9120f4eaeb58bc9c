// Package wechatstate keeps what the WeChat channel must not lose at a
// restart (access tokens, uploaded media ids) in an engine.Store: the
// adapter between channels/wechat's TokenStore and MediaCache and the
// store, so that the engine imports no concrete channel.
package wechatstate
