// Package store is herald's ledger: the SQL implementation of
// dispatcher.Store for SQLite (a single file, for one machine) and
// PostgreSQL (for large campaigns and several workers).
//
// Both backends share one implementation written against database/sql. The
// differences — placeholders, time encoding, error codes, the bulk insert
// path, ID allocation and how a set of deliveries is moved with its events —
// sit behind a small dialect (dialect.go), so every ordinary query exists
// once. The schema is created and upgraded by embedded, numbered migrations
// (migrations/<dialect>/NNNN_name.sql) applied when a database is opened.
//
// The ledger is the source of truth for who was told what, when and how:
// every state change of a delivery appends an event, conditional updates
// report dispatcher.ErrStale when another worker moved a row first, and the
// report is computed in SQL so it stays fast at millions of contacts.
// Nothing personal (names, addresses, message text) is ever logged.
package store
