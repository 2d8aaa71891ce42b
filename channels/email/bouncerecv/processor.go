package bouncerecv

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/heraldhq/herald/channels/email/bounce"
	"github.com/heraldhq/herald/channels/email/verp"
	"github.com/heraldhq/herald/dispatcher"
)

// Outcome is what processing did with one returned message.
type Outcome int

// Outcomes.
const (
	// Applied: the message named a delivery and its events were handed to
	// the sink.
	Applied Outcome = iota
	// Ignored: an auto-reply, or a report with nothing to record (only
	// relayed or expanded recipients).
	Ignored
	// Rejected: the message was sent to a VERP address whose token does
	// not verify — a forgery or a mangled address — and changed nothing.
	Rejected
	// Unmatched: no delivery could be identified, or the message is not a
	// report at all; it is kept for inspection (in UnmatchedDir, or by
	// the caller).
	Unmatched
)

// String names the outcome, as logs show it.
func (o Outcome) String() string {
	switch o {
	case Applied:
		return "applied"
	case Ignored:
		return "ignored"
	case Rejected:
		return "rejected"
	case Unmatched:
		return "unmatched"
	}
	return "outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result describes one processed message, without personal data.
type Result struct {
	Outcome    Outcome
	Type       string // the report type: dsn, arf, autoreply, unknown
	DeliveryID int64  // from the verified VERP token; 0 otherwise
	Events     int    // events handed to the sink
	Reason     string // why a message was rejected or left unmatched
	File       string // where an unmatched message was saved, if it was
}

// ProcessorOptions configure a Processor.
type ProcessorOptions struct {
	// Sink receives the events. Required.
	Sink dispatcher.EventSink
	// Signer verifies the VERP tokens of the addresses a bounce was sent
	// to. Required: without it no bounce can be trusted to name a
	// delivery.
	Signer *verp.Signer
	// UnmatchedDir, when set, is where messages that match no delivery
	// are written, one file per message named by arrival time and hash,
	// readable by the owner only (they hold personal data). The directory
	// is created if missing.
	UnmatchedDir string
	// Logger receives one record per message: outcome, type, delivery
	// ID, reason; never addresses or text. Nil discards.
	Logger *slog.Logger
	// Now is the clock for event times and file names; default time.Now.
	Now func() time.Time
}

// Processor turns returned messages into provider events. The SMTP bounce
// receiver and the IMAP poller share it, so a bounce means the same
// whichever way it arrives. It is safe for concurrent use.
type Processor struct {
	sink   dispatcher.EventSink
	signer *verp.Signer
	dir    string
	log    *slog.Logger
	now    func() time.Time
}

// NewProcessor checks o and returns a Processor.
func NewProcessor(o ProcessorOptions) (*Processor, error) {
	if o.Sink == nil {
		return nil, errors.New("bouncerecv: no event sink")
	}
	if o.Signer == nil {
		return nil, errors.New("bouncerecv: no VERP signer: bounces cannot be verified without the signing keys")
	}
	if err := o.Signer.Validate(); err != nil {
		return nil, fmt.Errorf("bouncerecv: %w", err)
	}
	p := &Processor{sink: o.Sink, signer: o.Signer, dir: o.UnmatchedDir, log: o.Logger, now: o.Now}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.dir != "" {
		if err := os.MkdirAll(p.dir, 0o700); err != nil {
			return nil, fmt.Errorf("bouncerecv: create unmatched directory: %w", err)
		}
	}
	return p, nil
}

// Message is one returned message and what its transport knows about it.
type Message struct {
	// Raw is the message as received, headers and body.
	Raw []byte
	// Rcpts are the envelope recipients (SMTP RCPT TO), which carry the
	// VERP token. Nil when the transport does not know them (IMAP): the
	// report's own recipient headers are used instead.
	Rcpts []string
	// Source overrides ProviderEvent.Source; empty means by format, "dsn"
	// or "arf".
	Source string
}

// heraldMessageID matches the Message-IDs herald sets; its random part
// makes it unguessable, so the ledger can trust a match on it.
var heraldMessageID = regexp.MustCompile(`^<herald\.[0-9]+\.[a-z0-9]{16,}@[^<>@\s]+>$`)

// Process reads m, decides which delivery it is about and hands the
// events it describes to the sink. An error means the message was not
// dealt with and must be offered again later (SMTP 451, or left for the
// next IMAP poll): the sink failed, or an unmatched message could not be
// saved. Everything else, including forgeries and junk, is a Result; a
// sink error wrapping dispatcher.ErrUnmatched (the ledger knows no such
// delivery) makes the message Unmatched.
//
// A delivery is identified by a VERP token that verifies. Without one, a
// herald Message-ID in the returned headers is passed on as ProviderID for
// the ledger to match. The X-Herald-Delivery header alone is never trusted:
// anyone can write it.
func (p *Processor) Process(ctx context.Context, m Message) (Result, error) {
	rep, err := bounce.Parse(bytes.NewReader(m.Raw))
	if err != nil {
		if errors.Is(err, bounce.ErrEmpty) {
			res := Result{Outcome: Ignored, Type: bounce.TypeUnknown, Reason: "empty message"}
			p.logResult(res)
			return res, nil
		}
		return Result{}, fmt.Errorf("parse returned message: %w", err)
	}
	res := Result{Type: rep.Type}
	if rep.Type == bounce.TypeAutoreply {
		res.Outcome, res.Reason = Ignored, "auto-reply"
		p.logResult(res)
		return res, nil
	}

	rcpts := m.Rcpts
	if len(rcpts) == 0 {
		rcpts = rep.To
	}
	ids, forged := p.verify(rcpts)
	switch {
	case len(ids) == 0 && forged:
		res.Outcome, res.Reason = Rejected, "bad VERP token"
		p.logResult(res)
		return res, nil
	case len(ids) > 1:
		res.Reason = "VERP tokens of several deliveries"
		return p.unmatched(m, res)
	case len(ids) == 1:
		res.DeliveryID = ids[0]
	}
	providerID := ""
	if res.DeliveryID == 0 {
		if !heraldMessageID.MatchString(rep.MessageID) {
			res.Reason = "no VERP token and no herald Message-ID"
			return p.unmatched(m, res)
		}
		providerID = rep.MessageID
	}

	events := p.events(rep, m, res.DeliveryID, providerID)
	switch {
	case rep.Type == bounce.TypeUnknown:
		res.Reason = "not a delivery report"
		return p.unmatched(m, res)
	case len(events) == 0 && len(rep.Recipients) == 0:
		res.Reason = "report names no recipient"
		return p.unmatched(m, res)
	case len(events) == 0:
		res.Outcome, res.Reason = Ignored, "nothing to record"
		p.logResult(res)
		return res, nil
	}
	for _, ev := range events {
		err := p.sink.Apply(ctx, ev)
		if errors.Is(err, dispatcher.ErrUnmatched) {
			// A verified token or a herald Message-ID, but the ledger
			// has no such delivery (another herald's, or a deleted
			// campaign's): keep the message for a person.
			res.Reason = "the ledger has no such delivery"
			return p.unmatched(m, res)
		}
		if err != nil {
			p.log.Warn("bounce: sink failed; the message will be offered again",
				"type", rep.Type, "delivery", res.DeliveryID, "kind", string(ev.Kind), "err", err)
			return Result{}, fmt.Errorf("apply %s event for delivery %d: %w", ev.Kind, res.DeliveryID, err)
		}
		res.Events++
	}
	res.Outcome = Applied
	p.logResult(res)
	return res, nil
}

// verify returns the distinct delivery IDs of the recipients whose VERP
// tokens verify, and whether any recipient had a token that did not.
func (p *Processor) verify(rcpts []string) (ids []int64, forged bool) {
	for _, a := range rcpts {
		id, err := p.signer.Verify(a)
		switch {
		case err == nil:
			if !containsID(ids, id) {
				ids = append(ids, id)
			}
		case errors.Is(err, verp.ErrBadToken):
			forged = true
		}
	}
	return ids, forged
}

func containsID(ids []int64, id int64) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

// classOf maps the parser's classes to the dispatcher's: a policy refusal
// is ours to fix (Permanent), never the contact's fault.
func classOf(c string) dispatcher.Class {
	switch c {
	case bounce.ClassInvalid:
		return dispatcher.Invalid
	case bounce.ClassPolicy:
		return dispatcher.Permanent
	}
	return dispatcher.Transient
}

// events maps a report's recipients to events. Tokens are derived from
// the message's hash, so the same message offered twice (an MTA retrying
// after a 451) yields the same tokens and the sink ignores the repeat.
func (p *Processor) events(rep *bounce.Report, m Message, deliveryID int64, providerID string) []dispatcher.ProviderEvent {
	sum := sha256.Sum256(m.Raw)
	tokenBase := "sha256:" + hex.EncodeToString(sum[:16])
	source := m.Source
	if source == "" {
		source = rep.Type
	}
	base := dispatcher.ProviderEvent{
		DeliveryID: deliveryID,
		ProviderID: providerID,
		Channel:    dispatcher.Email,
		At:         p.now(),
		Source:     source,
	}
	var out []dispatcher.ProviderEvent
	add := func(ev dispatcher.ProviderEvent) {
		ev.Token = tokenBase + "#" + strconv.Itoa(len(out))
		out = append(out, ev)
	}
	switch rep.Type {
	case bounce.TypeARF:
		if len(rep.Recipients) == 0 {
			ev := base
			ev.Kind, ev.Code = dispatcher.EventComplaint, rep.FeedbackType
			add(ev)
		}
		for _, r := range rep.Recipients {
			ev := base
			ev.Kind, ev.Code, ev.Address = dispatcher.EventComplaint, rep.FeedbackType, r.Address
			add(ev)
		}
	case bounce.TypeDSN:
		for _, r := range rep.Recipients {
			ev := base
			ev.Address, ev.Diagnostic, ev.Code = r.Address, r.Diagnostic, r.Status
			if ev.Code == "" {
				ev.Code = r.ReplyCode
			}
			switch r.Action {
			case bounce.ActionFailed:
				ev.Kind, ev.Class = dispatcher.EventBounce, classOf(r.Class)
			case bounce.ActionDelayed:
				ev.Kind, ev.Class = dispatcher.EventDeferred, dispatcher.Transient
			case bounce.ActionDelivered:
				ev.Kind = dispatcher.EventDelivered
			default:
				continue // relayed, expanded: nothing known yet
			}
			add(ev)
		}
	}
	return out
}

// unmatched keeps m for inspection when a directory is configured.
func (p *Processor) unmatched(m Message, res Result) (Result, error) {
	res.Outcome = Unmatched
	if p.dir != "" {
		name, err := p.save(m.Raw)
		if err != nil {
			p.log.Error("bounce: could not keep unmatched message; it will be offered again", "type", res.Type, "err", err)
			return Result{}, err
		}
		res.File = name
	}
	p.logResult(res)
	return res, nil
}

// save writes raw to the unmatched directory as <UTC time>-<hash>.eml,
// atomically (a temporary file renamed into place), owner-readable only.
func (p *Processor) save(raw []byte) (string, error) {
	sum := sha256.Sum256(raw)
	name := p.now().UTC().Format("20060102T150405.000000000Z") + "-" + hex.EncodeToString(sum[:8]) + ".eml"
	tmp, err := os.CreateTemp(p.dir, ".incoming-*")
	if err != nil {
		return "", fmt.Errorf("save unmatched message: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(raw); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("save unmatched message: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return "", fmt.Errorf("save unmatched message: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return "", fmt.Errorf("save unmatched message: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(p.dir, name)); err != nil {
		return "", fmt.Errorf("save unmatched message: %w", err)
	}
	return name, nil
}

func (p *Processor) logResult(res Result) {
	attrs := []any{"outcome", res.Outcome.String(), "type", res.Type, "delivery", res.DeliveryID, "events", res.Events}
	if res.Reason != "" {
		attrs = append(attrs, "reason", res.Reason)
	}
	if res.File != "" {
		attrs = append(attrs, "file", res.File)
	}
	switch res.Outcome {
	case Rejected:
		p.log.Warn("bounce: rejected", attrs...)
	case Unmatched:
		p.log.Warn("bounce: unmatched; kept for inspection", attrs...)
	default:
		p.log.Info("bounce: processed", attrs...)
	}
}
