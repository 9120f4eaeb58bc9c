// Package wechat is the WeChat Official Account channel. This part of it
// holds the account's rules for outbound messages: the 48-hour reply window
// opened by the contact's last interaction, the number of replies allowed
// after a message or after an event, the media size and file type limits,
// and what an international account may not send. The rules are a Policy:
// a pure function of the session state the engine keeps, with the time
// passed in, so the engine can ask it inside the transaction that reserves
// a send and the simulator can apply exactly the same rules.
package wechat
