// Package dispatcher is herald's domain: campaigns, contacts, deliveries and
// their events, the importer, the send logic and the fallback policy.
//
// It imports no adapter. The ledger (package store), the queue (package
// queue) and the channels (package channels/...) implement the interfaces
// declared here, and cmd/herald wires them together. Keeping the domain free
// of Redis, SQL and SMTP lets every rule about who is told what, and when,
// be read and tested in one place.
package dispatcher
