// Package steps holds one file per step kind of the flow language (send,
// ask, branch, hours, wait, set, tag, untag, http, goto, start, assign,
// open, close, comment, end). Each file declares its kind's spec (keys,
// types, defaults, docs) and registers it with the flows package by its
// YAML key, so that the validator, the JSON Schema and the reference docs
// come from that one spec. A step never touches storage or the network
// itself: it asks the runtime.
package steps
