package dispatcher

import "time"

// State is where one delivery (a contact × channel) is.
//
//	pending → queued → sending → sent → delivered
//	                          ↘ bounced_hard | bounced_soft | failed | suppressed
//	pending → handed_to_print → sent (postal: a print batch went to the mail
//	          house, then was mailed) ↘ bounced_hard (the letter came back)
//	skipped: never attempted (no address, not eligible, or an earlier channel reached the person)
//	cancelled: the campaign was cancelled before it was sent
type State string

// Delivery states.
const (
	StatePending     State = "pending"
	StateQueued      State = "queued"
	StateSending     State = "sending"
	StateSent        State = "sent"
	StateDelivered   State = "delivered"
	StateBouncedHard State = "bounced_hard"
	StateBouncedSoft State = "bounced_soft"
	StateFailed      State = "failed"
	StateSuppressed  State = "suppressed"
	StateSkipped     State = "skipped"
	StateCancelled   State = "cancelled"
)

// StateHandedToPrint is a letter in a print batch handed to the mail house
// (the delivery's ProviderID names the batch). It is final and counts as
// reached: from here the mail house, not herald, delivers it; `herald
// postal mailed` moves it to sent and a returned letter to bounced_hard.
const StateHandedToPrint State = "handed_to_print"

// AllStates lists every state in lifecycle order, for reports.
var AllStates = []State{
	StatePending, StateQueued, StateSending, StateHandedToPrint, StateSent, StateDelivered,
	StateBouncedHard, StateBouncedSoft, StateFailed, StateSuppressed,
	StateSkipped, StateCancelled,
}

// Final reports whether no worker will act on a delivery in this state
// again. bounced_soft is final for one attempt generation: a later retry
// is a new generation.
func (s State) Final() bool {
	switch s {
	case StatePending, StateQueued, StateSending:
		return false
	}
	return true
}

// ReachedStates are the states in which a delivery counts as having reached
// its person. A letter handed to the mail house counts: for the purpose of
// reach it is sent, as an e-mail accepted by the receiving server is.
var ReachedStates = []State{StateHandedToPrint, StateSent, StateDelivered}

// Reached reports whether the person was reached through this delivery.
func (s State) Reached() bool {
	return s == StateSent || s == StateDelivered || s == StateHandedToPrint
}

// Unfinished lists the states the reconciler looks after.
var Unfinished = []State{StatePending, StateQueued, StateSending}

// Delivery is one attempt to reach one contact on one channel. There is at
// most one per contact × channel; Generation counts deliberate re-sends
// (after a soft bounce, or after a worker crashed mid-send) so that the
// queue's duplicate guard lets those through.
type Delivery struct {
	ID         int64
	CampaignID int64
	ContactID  int64
	Channel    ChannelKind
	Seq        int // position of Channel in the campaign policy
	State      State
	Generation int    // bumped for every deliberate re-send
	Attempt    string // random id of the worker run that holds it in sending
	Address    string // the address or number used (copied at send time, for support lookups)
	ProviderID string // Message-ID or Twilio SID
	Code       string // last SMTP reply / Twilio error code
	Diagnostic string // last reason, in words
	UpdatedAt  time.Time
	// NotBefore, when set, is the earliest time the delivery may be sent
	// (a retry after back-off, a re-send after a soft bounce). It is in
	// the ledger, not only in the queue, so that a re-send scheduled for
	// hours later survives the queue losing its jobs and is not sent
	// early by a duplicate job.
	NotBefore time.Time
}

// Event is one entry in a delivery's append-only history.
type Event struct {
	ID         int64
	DeliveryID int64
	At         time.Time
	State      State
	ProviderID string
	Code       string
	Diagnostic string
}
