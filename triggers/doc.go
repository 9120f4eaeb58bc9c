// Package triggers decides which flow an inbound event starts. It holds one
// file per trigger kind of the flow language (follow, unfollow, scan, menu,
// keyword, message, schedule, conversation); each declares its kind's spec
// and registers it with the flows package by its YAML key, so that the
// validator, the JSON Schema and the docs come from that one spec.
package triggers
