package dispatcher

import (
	"context"
	"time"
)

// Store is the ledger: the source of truth for who was told what, when and
// how. Redis only carries work; whatever it loses, the ledger can rebuild.
//
// Implementations live in package store (SQLite and PostgreSQL) and pass one
// shared conformance suite. Methods return ErrNotFound (possibly wrapped) for
// missing rows and ErrStale when a conditional update found the row moved.
type Store interface {
	// CreateCampaign inserts c with its templates and sets c.ID and
	// c.CreatedAt. A taken name is ECONFLICT.
	CreateCampaign(ctx context.Context, c *Campaign, templates []Template) error
	Campaign(ctx context.Context, id int64) (*Campaign, error)
	CampaignByName(ctx context.Context, name string) (*Campaign, error)
	Campaigns(ctx context.Context) ([]*Campaign, error)
	// SetCampaignStatus moves campaign id to status to if its current
	// status is one of from, stamping LaunchedAt (first time running) or
	// FinishedAt (completed, cancelled) with at. ErrStale otherwise.
	SetCampaignStatus(ctx context.Context, id int64, from []CampaignStatus, to CampaignStatus, at time.Time) error
	// SetCampaignSettings replaces a campaign's settings whatever they
	// are now. To change one setting of a campaign others may be editing,
	// use ChangeCampaign, which does not overwrite their changes.
	SetCampaignSettings(ctx context.Context, id int64, s Settings) error
	// UpdateCampaign replaces the name, incident reference, default
	// locale, policy, sender and settings of campaign c.ID with c's, if
	// its status is one of from; ErrStale otherwise. When c.Revision is
	// set, the update is a compare-and-set on it: ErrStale also when the
	// campaign changed since it was read, and on success c.Revision is
	// the new revision. A taken name is ECONFLICT.
	UpdateCampaign(ctx context.Context, c *Campaign, from []CampaignStatus) error
	// DeleteCampaign removes a campaign and everything recorded for it.
	DeleteCampaign(ctx context.Context, id int64) error
	// PutTemplate inserts or replaces the template for its campaign,
	// channel and locale.
	PutTemplate(ctx context.Context, t *Template) error
	Templates(ctx context.Context, campaignID int64) ([]Template, error)

	// ImportContacts stores a batch of contacts in one transaction. A
	// contact whose DedupeKey already exists in the campaign (in the ledger
	// or earlier in the batch) is skipped and counted as a duplicate. For
	// each stored contact, with its ID set, plan is called and the
	// deliveries it returns are stored with it.
	ImportContacts(ctx context.Context, campaignID int64, contacts []Contact, plan func(*Contact) []Delivery) (ImportResult, error)
	// AddRejects records rejected or corrected rows; a row already recorded
	// for the campaign (same Hash) is not added again, so re-importing a
	// file does not inflate the reject count. It returns how many were new.
	AddRejects(ctx context.Context, campaignID int64, rejects []Reject) (int, error)
	// RecordImport stores the summary of one import run.
	RecordImport(ctx context.Context, r *ImportRun) error

	Contact(ctx context.Context, id int64) (*Contact, error)
	// Contacts pages through a campaign's contacts in ID order after
	// afterID (for checks and previews that visit everyone).
	Contacts(ctx context.Context, campaignID, afterID int64, limit int) ([]Contact, error)
	Delivery(ctx context.Context, id int64) (*Delivery, error)
	// InsertDeliveries stores new deliveries (e.g. a fallback channel) and
	// sets their IDs. A delivery for a contact × channel that already
	// exists is left alone and returned with ID 0.
	InsertDeliveries(ctx context.Context, ds []Delivery) ([]Delivery, error)
	// Transition applies one conditional state change and appends its event
	// in one transaction; ErrStale when the row is not as t expects.
	Transition(ctx context.Context, t Transition) error
	// Transitions applies many conditional state changes, each as
	// Transition does, in one transaction, and returns the IDs of those
	// whose row was not as expected (stale or missing); the others are
	// applied. For each applied transition, the deliveries follow holds
	// under its DeliveryID are inserted in the same transaction, as
	// InsertDeliveries does, and returned with their IDs: a worker records
	// a batch's outcomes and the fallbacks they call for at once, so that
	// no outcome is recorded without its fallback.
	Transitions(ctx context.Context, ts []Transition, follow map[int64][]Delivery) (stale []int64, inserted []Delivery, err error)
	// Claim moves the deliveries of c.Items that are pending or queued, at
	// the item's generation and due (NotBefore not after c.At), to sending
	// with attempt c.Attempt, in one statement, and returns them with
	// their contacts. Items not claimed (already taken, final, of another
	// generation, not due) are left alone and not returned. No event is
	// appended: the outcome's event records the send.
	Claim(ctx context.Context, c Claim) ([]Claimed, error)
	// PendingAfter returns up to limit of a campaign's pending deliveries on
	// channel k with IDs above afterID, in ID order, as job items: the
	// feeder's page, which needs nothing else of them.
	PendingAfter(ctx context.Context, campaignID int64, k ChannelKind, afterID int64, limit int) ([]JobItem, error)
	// Deliveries pages through a campaign's deliveries in the given states
	// in ID order, starting after afterID; updatedBefore, if not zero,
	// keeps only rows last changed before it.
	Deliveries(ctx context.Context, q DeliveryQuery) ([]Delivery, error)
	// CancelUnsent moves every pending or queued delivery of a campaign to
	// cancelled, with events, and returns how many moved.
	CancelUnsent(ctx context.Context, campaignID int64, at time.Time) (int64, error)
	// CountUnfinished counts a campaign's deliveries that are pending,
	// queued or sending.
	CountUnfinished(ctx context.Context, campaignID int64) (int64, error)

	// FindContacts finds contacts in any campaign by exact e-mail (case
	// insensitive), E.164 phone or external id: the support lookup.
	FindContacts(ctx context.Context, query string) ([]Contact, error)
	// FindContactsByName finds contacts in any campaign whose name
	// matches q (see NameQuery.Matches), the best matches first (by
	// NameQuery.Rank, then name key and id), at most limit of them, and
	// counts the matches up to MaxNameMatches.
	FindContactsByName(ctx context.Context, q NameQuery, limit int) (NameMatches, error)
	DeliveriesOf(ctx context.Context, contactID int64) ([]Delivery, error)
	// DeliveriesOfContacts returns the deliveries of many contacts at
	// once, by contact and then policy order.
	DeliveriesOfContacts(ctx context.Context, contactIDs []int64) ([]Delivery, error)
	Events(ctx context.Context, deliveryID int64) ([]Event, error)
	// EventsOfDeliveries returns the histories of many deliveries at
	// once, by delivery ID and then oldest first.
	EventsOfDeliveries(ctx context.Context, deliveryIDs []int64) ([]Event, error)

	// Report counts a campaign's contacts, outcomes and deliveries.
	Report(ctx context.Context, campaignID int64) (*Report, error)
	// Unreachable pages through contacts that every channel failed to
	// reach (none sent, none unfinished), in ID order after afterID.
	Unreachable(ctx context.Context, campaignID int64, afterID int64, limit int) ([]ContactDeliveries, error)

	// Suppress adds or refreshes an address on the cross-campaign
	// suppression list; IsSuppressed looks one up.
	Suppress(ctx context.Context, s Suppression) error
	IsSuppressed(ctx context.Context, channel ChannelKind, address string) (*Suppression, error)
	// SuppressedAmong returns the entries of the suppression list among
	// addresses on one channel, by address as given.
	SuppressedAmong(ctx context.Context, channel ChannelKind, addresses []string) (map[string]Suppression, error)
	// SuppressMany adds or refreshes many entries in one transaction, each
	// as Suppress does, and returns how many addresses were new.
	SuppressMany(ctx context.Context, ss []Suppression) (int, error)
	// Suppressions pages through the suppression list by channel and
	// address (see SuppressionQuery).
	Suppressions(ctx context.Context, q SuppressionQuery) ([]Suppression, error)
	// Unsuppress takes an address off the list; ErrNotFound when it is
	// not on it.
	Unsuppress(ctx context.Context, channel ChannelKind, address string) error

	// CreatePostalBatch records print batch b (setting its ID, Count and
	// CreatedAt) and moves those of deliveryIDs that are pending postal
	// deliveries of b.CampaignID to handed_to_print, with the batch's Ref
	// as their ProviderID and an event each, in one transaction. Nothing
	// is recorded, and ErrStale returned, when none of them is pending.
	CreatePostalBatch(ctx context.Context, b *PostalBatch, deliveryIDs []int64) error
	PostalBatch(ctx context.Context, id int64) (*PostalBatch, error)
	// PostalBatches lists a campaign's print batches (every campaign's
	// when campaignID is 0), oldest first.
	PostalBatches(ctx context.Context, campaignID int64) ([]PostalBatch, error)
	// MarkPostalBatchMailed records that the mail house mailed batch id:
	// the batch becomes mailed and its letters still handed_to_print move
	// to sent, with events. It returns how many letters moved; ErrStale
	// when the batch is not handed_to_print.
	MarkPostalBatchMailed(ctx context.Context, id int64, at time.Time) (int64, error)
	// PostalLetters pages through postal deliveries with their contacts in
	// delivery ID order after afterID: those of print batch batchID, or,
	// when batchID is 0, the campaign's pending ones (the letters waiting
	// for a batch).
	PostalLetters(ctx context.Context, campaignID, batchID, afterID int64, limit int) ([]Letter, error)
	// UnreachableByArea counts the contacts Unreachable would list, by
	// country and region (state, province), largest first.
	UnreachableByArea(ctx context.Context, campaignID int64) ([]AreaCount, error)

	// DeliveryByProvider finds a delivery by the provider message id it
	// was sent with (Message-ID, Twilio SID); ErrNotFound when none.
	DeliveryByProvider(ctx context.Context, providerID string) (*Delivery, error)
	// FirstSeen records a provider idempotency token and reports whether
	// it is new; false means the event was applied before.
	FirstSeen(ctx context.Context, source, token string, at time.Time) (bool, error)
	// MarkComplaint flags a delivery whose recipient complained.
	MarkComplaint(ctx context.Context, deliveryID int64, source string, at time.Time) error
	// Health counts a campaign's last n finished attempts on a channel,
	// for the sender-reputation guard.
	Health(ctx context.Context, campaignID int64, channel ChannelKind, n int) (Health, error)

	// Audit appends to the audit log.
	Audit(ctx context.Context, e AuditEntry) error

	Close() error
}

// Transition is a conditional change of one delivery's state. The row must
// be in one of From, at Generation, and, when Attempt is set, held by that
// attempt. The row's attempt becomes NewAttempt (empty when it leaves
// sending) and its NotBefore becomes NotBefore. Address and ProviderID are
// kept when empty here; Code and Diagnostic are always replaced. One event
// with To and these details is appended, unless NoEvent is set.
type Transition struct {
	DeliveryID     int64
	From           []State
	Generation     int
	Attempt        string
	To             State
	NewAttempt     string
	BumpGeneration bool
	Address        string
	ProviderID     string
	Code           string
	Diagnostic     string
	At             time.Time
	NotBefore      time.Time
	// NoEvent marks bookkeeping that is not part of the delivery's
	// history: a claim handed back unused because the recipient's quiet
	// hours began or a rate limit was reached.
	NoEvent bool
}

// Claim asks the ledger for a batch of deliveries to send (Store.Claim).
type Claim struct {
	Items   []JobItem
	Attempt string
	At      time.Time
}

// Claimed is a delivery a worker now holds in sending, with its contact.
type Claimed struct {
	Delivery Delivery
	Contact  Contact
}

// DeliveryQuery selects deliveries for paging.
type DeliveryQuery struct {
	CampaignID    int64
	States        []State
	AfterID       int64
	UpdatedBefore time.Time
	Limit         int
}

// ImportResult tells what one ImportContacts batch stored.
type ImportResult struct {
	Inserted   int
	Duplicates int
	// Deliveries are the stored deliveries in state pending, with IDs,
	// ready to be queued when the campaign is running.
	Deliveries []Delivery
}

// Reject is a row of the reject report. Severity "error" rows were not
// imported; "warning" rows were imported without the named field.
type Reject struct {
	Row      int
	Column   string
	Value    string
	Reason   string
	Severity string // "error" or "warning"
	Hash     string // identifies this problem in this row's content, for deduplication
	RowHash  string // identifies the row's content alone: a row with two problems is one rejected row
	Source   string // file name
}

// Reject severities.
const (
	SeverityError   = "error"
	SeverityWarning = "warning"
)

// ImportRun is the summary of one import.
type ImportRun struct {
	ID         int64
	CampaignID int64
	Source     string
	Read       int
	Accepted   int
	Rejected   int
	Warnings   int
	Duplicates int
	StartedAt  time.Time
	FinishedAt time.Time
}

// StateCount is the number of deliveries on one channel in one state.
type StateCount struct {
	Channel ChannelKind `json:"channel"`
	State   State       `json:"state"`
	N       int64       `json:"n"`
}

// Report is a campaign's headline numbers. Every contact is exactly one of
// reached, unreachable or in progress.
type Report struct {
	CampaignID   int64                 `json:"campaign_id"`
	Contacts     int64                 `json:"contacts"`
	Reached      int64                 `json:"reached"`
	ReachedBy    map[ChannelKind]int64 `json:"reached_by"`  // by the first channel that reached each person
	Fallback     int64                 `json:"fallback"`    // reached after an earlier channel failed
	Unreachable  int64                 `json:"unreachable"` // every channel failed or was missing
	InProgress   int64                 `json:"in_progress"`
	Invalid      int64                 `json:"invalid"` // contacts with at least one address found invalid (hard bounce)
	RejectedRows int64                 `json:"rejected_rows"`
	States       []StateCount          `json:"states"`
}

// MaxNameMatches is how many matches a name search counts before it
// says "more than": enough to tell a caller to give more of the name.
const MaxNameMatches = 1000

// NameMatches is the answer to a name search.
type NameMatches struct {
	Contacts []Contact // the best matches first, at most the limit asked for
	Total    int       // contacts that matched, counted up to MaxNameMatches
	More     bool      // more than Total matched: Total is a lower bound
}

// ContactDeliveries is a contact with all of its deliveries.
type ContactDeliveries struct {
	Contact    Contact
	Deliveries []Delivery
}

// Suppression is an address or number that must not be used again.
type Suppression struct {
	Channel   ChannelKind `json:"channel"`
	Address   string      `json:"address"`
	Reason    string      `json:"reason"` // invalid, complaint, opted_out, manual
	Source    string      `json:"source"` // e.g. "campaign demo delivery 42"
	FirstSeen time.Time   `json:"first_seen"`
	LastSeen  time.Time   `json:"last_seen"`
}

// SuppressionQuery selects a page of the suppression list, ordered by
// channel and address, after the entry (AfterChannel, AfterAddress).
type SuppressionQuery struct {
	Channel      ChannelKind // only this channel; all when empty
	Reason       string      // only this reason; all when empty
	AfterChannel ChannelKind
	AfterAddress string
	Limit        int // default 1000, at most 10000
}

// Health is a campaign's recent outcomes on one channel.
type Health struct {
	Attempted   int64
	HardBounced int64
	Complaints  int64
}

// AuditEntry records who did or looked at what.
type AuditEntry struct {
	At      time.Time
	Actor   string
	Action  string
	Subject string
	Detail  string
}
