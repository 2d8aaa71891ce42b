package dispatcher

import "time"

// State is where one delivery (a contact × channel) is.
//
//	pending → queued → sending → sent → delivered
//	                          ↘ bounced_hard | bounced_soft | failed | suppressed
//	skipped: never attempted (no address, or an earlier channel reached the person)
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

// AllStates lists every state in lifecycle order, for reports.
var AllStates = []State{
	StatePending, StateQueued, StateSending, StateSent, StateDelivered,
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

// Reached reports whether the person was reached through this delivery.
func (s State) Reached() bool { return s == StateSent || s == StateDelivered }

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
