// Package wechattest is a fake of WeChat's Official Account API for tests:
// a real HTTP server on the loopback interface (httptest) that issues
// access tokens, accepts customer-service messages, media uploads, menus
// and QR codes, records what it accepted, and can be scripted to answer
// with WeChat's error codes, with HTTP failures, or not at all. It is fast
// enough for load tests of several thousand sends a second.
package wechattest
