// Package wechat is the WeChat Official Account channel.
//
// Inbound, Handler is the callback endpoint (/wechat/{account}): it checks
// the signature and the timestamp, bounds the body, decrypts safe and
// compatible mode callbacks (Cipher, with the previous key during a
// rotation), parses the XML (ParseCallback) into the engine's event, hands
// it to a Sink and answers `success`, or a passive reply (ReplyXML), only
// after the event is stored.
//
// Outbound, Client calls WeChat's API: access tokens (one refresher per
// account, kept in a TokenStore across restarts), customer-service
// messages, temporary media (checked, uploaded and cached in a
// MediaCache), the custom menu and QR codes; it retries what is safe to
// retry and reports a send whose outcome cannot be known as
// channels.ErrUnknown. Channel puts clients and policies together as a
// channels.Channel.
//
// The account's rules for outbound messages are a Policy: the 48-hour
// reply window opened by the contact's last interaction, the number of
// replies allowed after a message or after an event, the media size and
// file type limits, and what an international account may not send. It is
// a pure function of the session state the engine keeps, with the time
// passed in, so the engine can ask it inside the transaction that reserves
// a send and the simulator can apply exactly the same rules.
package wechat
