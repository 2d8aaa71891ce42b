package dispatcher

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/heraldhq/herald/internal/csvsafe"
)

// The postal channel. Many notification chains end in a letter: the law's
// default in the US, and the last resort for a person whose e-mail bounced
// and who has no mobile number. Herald does not print; a mail house does.
// So no worker sends a postal delivery. It stays pending ("a letter waiting
// for a print batch") until the operator runs `herald postal batch`, which
// collects every waiting letter of a campaign into a print batch: a CSV
// file for the mail house with the name, the address as imported and the
// rendered letter per person, and each delivery moves to handed_to_print
// with the batch's reference. `herald postal mailed` records that the mail
// house posted the batch (handed_to_print → sent) and `herald postal
// returned` a letter that came back (→ bounced_hard, the address is
// suppressed, and the next channel of the policy is tried if any is left).
//
// Pending postal deliveries count as unfinished, so a campaign with letters
// to send completes only after they are handed over; the queue never
// carries them (see Queueable).

// PostalAddress is a mailing address as imported, field by field: the
// batch file gives the mail house the same fields.
type PostalAddress struct {
	Line1      string `json:"line1,omitempty"` // street and number, or PO box
	Line2      string `json:"line2,omitempty"` // c/o, apartment, building
	PostalCode string `json:"postal_code,omitempty"`
	City       string `json:"city,omitempty"`
	Region     string `json:"region,omitempty"` // state, province or county, e.g. CA
}

// IsZero reports whether no field is set.
func (p PostalAddress) IsZero() bool { return p == PostalAddress{} }

// Complete reports whether a letter can be addressed with it: a street
// line and a postal code or a city.
func (p PostalAddress) Complete() bool {
	return p.Line1 != "" && (p.PostalCode != "" || p.City != "")
}

// Line returns the address on one line, with country (ISO code) last:
// "Storgata 1, 0155 Oslo, NO". It is what the ledger records as the
// delivery's address and what the suppression list keys postal entries by.
func (p PostalAddress) Line(country string) string {
	var parts []string
	add := func(s string) {
		if s = strings.Join(strings.Fields(s), " "); s != "" {
			parts = append(parts, s)
		}
	}
	add(p.Line1)
	add(p.Line2)
	add(p.PostalCode + " " + p.City)
	add(p.Region)
	add(country)
	return strings.Join(parts, ", ")
}

// PostalBatchStatus is where a print batch is.
type PostalBatchStatus string

// Print batch statuses: handed to the mail house, then mailed by it.
const (
	BatchHandedToPrint PostalBatchStatus = "handed_to_print"
	BatchMailed        PostalBatchStatus = "mailed"
)

// PostalBatch is one set of letters handed to a mail house.
type PostalBatch struct {
	ID         int64             `json:"id"`
	CampaignID int64             `json:"campaign_id"`
	Status     PostalBatchStatus `json:"status"`
	Count      int64             `json:"letters"` // letters handed over in the batch
	CreatedAt  time.Time         `json:"created_at"`
	MailedAt   time.Time         `json:"mailed_at,omitzero"`
}

// Ref is the batch's reference, kept as the ProviderID of each of its
// deliveries and printed in the batch file.
func (b *PostalBatch) Ref() string { return PostalBatchRef(b.ID) }

// PostalBatchRef is the reference of batch id: "print-batch-42".
func PostalBatchRef(id int64) string { return "print-batch-" + strconv.FormatInt(id, 10) }

// Letter is a postal delivery with its contact.
type Letter struct {
	Delivery Delivery
	Contact  Contact
}

// ErrNoLetters is returned by Mailroom.Batch when no letter of the campaign
// is waiting for a print batch.
var ErrNoLetters = &Error{Code: ENOTFOUND, Message: "no letters are waiting for a print batch"}

// LettersWaiting counts, from a report, the letters waiting for a print
// batch: the pending postal deliveries.
func LettersWaiting(r *Report) int64 {
	var n int64
	for _, s := range r.States {
		if s.Channel == Postal && s.State == StatePending {
			n += s.N
		}
	}
	return n
}

// Queueable reports whether d is work for the queue: pending and on a
// channel a worker sends. Letters wait for a print batch instead.
func Queueable(d *Delivery) bool { return d.State == StatePending && d.Channel != Postal }

// Mailroom is the operator's side of the postal channel: print batches, and
// what the mail house reports back.
type Mailroom struct {
	Store Store
	Now   func() time.Time
	// Logger gets IDs and counts, never names or addresses; nil discards.
	Logger *slog.Logger
	Actor  string // who is acting, for the audit log
}

func (p *Mailroom) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Mailroom) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// BatchOptions tune Mailroom.Batch.
type BatchOptions struct {
	// Max caps the letters in one batch (a mail house may take at most so
	// many per order); 0 takes every waiting letter.
	Max int
}

// Batch collects the waiting letters of campaign c into a new print batch
// and writes the batch file to w (see WriteBatch). The campaign must be
// running: a draft's letters wait for its launch, a paused campaign's for
// its resume.
//
// Each letter is rendered before anything is recorded, so a template that
// fails stops nothing but that letter: as a worker does, it marks the
// delivery failed. A letter to an address on the suppression list is not
// batched: it becomes suppressed and the next channel is tried. Returns
// ErrNoLetters when nothing is waiting.
//
// The batch is recorded before the file is written: the ledger, not the
// file, is the record of what went to print. If writing fails, WriteBatch
// writes the same file again from the ledger.
func (p *Mailroom) Batch(ctx context.Context, c *Campaign, w io.Writer, opt BatchOptions) (*PostalBatch, error) {
	cur, err := p.Store.Campaign(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("print batch for %s: %w", c.Name, err)
	}
	c = cur
	switch c.Status {
	case CampaignRunning:
	case CampaignDraft, CampaignPaused:
		return nil, Errorf(ECONFLICT, "campaign %s is %s: letters go to print only while it runs (launch or resume it first)", c.Name, c.Status)
	default:
		return nil, Errorf(ECONFLICT, "campaign %s is %s: nothing goes to print any more", c.Name, c.Status)
	}
	notices, err := p.notices(ctx, c)
	if err != nil {
		return nil, err
	}
	log := p.log().With("campaign", c.ID)
	var ids []int64
	var after int64
	skipped := 0
	for opt.Max <= 0 || len(ids) < opt.Max {
		page, err := p.Store.PostalLetters(ctx, c.ID, 0, after, 1000)
		if err != nil {
			return nil, fmt.Errorf("print batch for %s: %w", c.Name, err)
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Delivery.ID
		for i := range page {
			if opt.Max > 0 && len(ids) >= opt.Max {
				break
			}
			ok, err := p.admit(ctx, log, c, notices, &page[i])
			if err != nil {
				return nil, fmt.Errorf("print batch for %s: %w", c.Name, err)
			}
			if !ok {
				skipped++
				continue
			}
			ids = append(ids, page[i].Delivery.ID)
		}
	}
	if len(ids) == 0 {
		return nil, ErrNoLetters
	}
	b := &PostalBatch{CampaignID: c.ID, CreatedAt: p.now()}
	if err := p.Store.CreatePostalBatch(ctx, b, ids); errors.Is(err, ErrStale) {
		return nil, ErrNoLetters // someone else batched or cancelled them first
	} else if err != nil {
		return nil, fmt.Errorf("print batch for %s: %w", c.Name, err)
	}
	log.Info("print batch created", "batch", b.ID, "letters", b.Count, "not_batched", skipped)
	if err := p.Store.Audit(ctx, AuditEntry{At: p.now(), Actor: p.Actor, Action: "postal.batch", Subject: c.Name,
		Detail: fmt.Sprintf("batch %d: %d letters", b.ID, b.Count)}); err != nil {
		return b, fmt.Errorf("audit print batch %d: %w", b.ID, err)
	}
	if err := p.write(ctx, c, notices, b, w); err != nil {
		return b, fmt.Errorf("batch %d is recorded (%d letters handed to print) but its file could not be written: %w; write it again with `herald postal export %d`", b.ID, b.Count, err, b.ID)
	}
	return b, nil
}

// admit decides whether one waiting letter goes into the batch, settling
// the ones that cannot.
func (p *Mailroom) admit(ctx context.Context, log *slog.Logger, c *Campaign, n *Notices, l *Letter) (bool, error) {
	d, ct := &l.Delivery, &l.Contact
	settle := func(to State, diag string, fall bool) (bool, error) {
		err := p.Store.Transition(ctx, Transition{DeliveryID: d.ID, From: []State{StatePending}, Generation: d.Generation,
			To: to, Diagnostic: diag, At: p.now()})
		if errors.Is(err, ErrStale) {
			return false, nil // cancelled meanwhile
		}
		if err != nil {
			return false, err
		}
		log.Info("letter not batched", "delivery", d.ID, "state", string(to))
		if fall {
			return false, fallback(ctx, p.Store, c, d, p.now())
		}
		return false, nil
	}
	addr := ct.Address(Postal)
	if addr == "" {
		return settle(StateSkipped, "no valid postal address on record", true)
	}
	sup, err := p.Store.IsSuppressed(ctx, Postal, addr)
	if err != nil {
		return false, fmt.Errorf("check suppression: %w", err)
	}
	if sup != nil {
		return settle(StateSuppressed, "on the suppression list: "+sup.Reason, true)
	}
	if _, err := n.Render(c, ct, Postal); err != nil {
		return settle(StateFailed, err.Error(), false)
	}
	return true, nil
}

func (p *Mailroom) notices(ctx context.Context, c *Campaign) (*Notices, error) {
	ts, err := p.Store.Templates(ctx, c.ID)
	if err != nil {
		return nil, fmt.Errorf("templates of %s: %w", c.Name, err)
	}
	n, err := CompileTemplates(c.DefaultLocale, ts)
	if err != nil {
		return nil, err
	}
	if !n.Has(Postal, c.DefaultLocale) {
		return nil, Errorf(EINVALID, "campaign %s has no letter template for its default locale %q: add %s/%s to its templates", c.Name, c.DefaultLocale, c.DefaultLocale, TemplateFile(Postal))
	}
	return n, nil
}

// BatchColumns is the header of a batch file.
var BatchColumns = []string{"batch", "delivery_id", "name", "address_line1", "address_line2", "postal_code", "city", "region", "country", "locale", "letter"}

// WriteBatch writes the file of print batch b of campaign c to w, from the
// ledger: one row per letter handed over in the batch, with the columns
// of BatchColumns. It carries what the mail house needs and nothing more
// (no e-mail, phone or external id); every cell is made safe to open in a
// spreadsheet (package csvsafe).
func (p *Mailroom) WriteBatch(ctx context.Context, c *Campaign, b *PostalBatch, w io.Writer) error {
	if b.CampaignID != c.ID {
		return Errorf(EINVALID, "batch %d belongs to another campaign than %s", b.ID, c.Name)
	}
	notices, err := p.notices(ctx, c)
	if err != nil {
		return err
	}
	return p.write(ctx, c, notices, b, w)
}

func (p *Mailroom) write(ctx context.Context, c *Campaign, n *Notices, b *PostalBatch, w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(BatchColumns); err != nil {
		return err
	}
	var after int64
	rows := 0
	for {
		page, err := p.Store.PostalLetters(ctx, c.ID, b.ID, after, 1000)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		after = page[len(page)-1].Delivery.ID
		for i := range page {
			d, ct := &page[i].Delivery, &page[i].Contact
			m, err := n.Render(c, ct, Postal)
			if err != nil {
				return fmt.Errorf("letter of delivery %d: %w", d.ID, err)
			}
			pa := ct.Postal
			rec := []string{b.Ref(), strconv.FormatInt(d.ID, 10), ct.Name, pa.Line1, pa.Line2, pa.PostalCode, pa.City, pa.Region, ct.Country, m.Locale, m.Text}
			if err := cw.Write(csvsafe.Cells(rec)); err != nil {
				return err
			}
			rows++
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return err
	}
	p.log().Info("print batch written", "campaign", c.ID, "batch", b.ID, "letters", rows)
	return nil
}

// Mailed records that the mail house posted batch id: its letters still
// handed to print become sent. It returns the batch as it now is and how
// many letters moved.
func (p *Mailroom) Mailed(ctx context.Context, id int64) (*PostalBatch, int64, error) {
	b, err := p.Store.PostalBatch(ctx, id)
	if err != nil {
		return nil, 0, p.batchErr(id, err)
	}
	if b.Status == BatchMailed {
		return nil, 0, Errorf(ECONFLICT, "batch %d was already recorded as mailed on %s", id, b.MailedAt.Local().Format("2006-01-02 15:04"))
	}
	n, err := p.Store.MarkPostalBatchMailed(ctx, id, p.now())
	if errors.Is(err, ErrStale) {
		return nil, 0, Errorf(ECONFLICT, "batch %d was recorded as mailed meanwhile", id)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mark batch %d mailed: %w", id, err)
	}
	c, err := p.Store.Campaign(ctx, b.CampaignID)
	if err != nil {
		return nil, n, err
	}
	if err := p.Store.Audit(ctx, AuditEntry{At: p.now(), Actor: p.Actor, Action: "postal.mailed", Subject: c.Name,
		Detail: fmt.Sprintf("batch %d: %d letters", id, n)}); err != nil {
		return nil, n, fmt.Errorf("audit batch %d mailed: %w", id, err)
	}
	p.log().Info("print batch mailed", "campaign", c.ID, "batch", id, "letters", n)
	b, err = p.Store.PostalBatch(ctx, id)
	return b, n, err
}

// ReasonReturned is the diagnostic of a letter that came back.
const ReasonReturned = "returned: invalid postal address"

// Returned records that the letter of delivery deliveryID in batch
// batchID came back undeliverable: the delivery becomes bounced_hard, the
// address goes on the suppression list (reason invalid) and the contact's
// next channel, if the policy has one left, is tried. note, if given, is
// kept with the reason (e.g. the mail house's "moved, no forwarding").
func (p *Mailroom) Returned(ctx context.Context, batchID, deliveryID int64, note string) (*Delivery, error) {
	b, err := p.Store.PostalBatch(ctx, batchID)
	if err != nil {
		return nil, p.batchErr(batchID, err)
	}
	d, err := p.Store.Delivery(ctx, deliveryID)
	if errors.Is(err, ErrNotFound) {
		return nil, Errorf(ENOTFOUND, "no delivery %d", deliveryID)
	}
	if err != nil {
		return nil, err
	}
	if d.Channel != Postal || d.ProviderID != b.Ref() {
		return nil, Errorf(EINVALID, "delivery %d is not a letter of batch %d (see the delivery_id column of the batch file)", deliveryID, batchID)
	}
	c, err := p.Store.Campaign(ctx, d.CampaignID)
	if err != nil {
		return nil, err
	}
	diag := ReasonReturned
	if note = strings.Join(strings.Fields(note), " "); note != "" {
		diag += ": " + note
	}
	now := p.now()
	err = p.Store.Transition(ctx, Transition{DeliveryID: d.ID, From: []State{StateHandedToPrint, StateSent}, Generation: d.Generation,
		To: StateBouncedHard, Code: "returned", Diagnostic: diag, At: now})
	if errors.Is(err, ErrStale) {
		cur, gerr := p.Store.Delivery(ctx, d.ID)
		if gerr != nil {
			return nil, gerr
		}
		return nil, Errorf(ECONFLICT, "the letter of delivery %d is already recorded as %s", d.ID, cur.State)
	}
	if err != nil {
		return nil, fmt.Errorf("record returned letter %d: %w", d.ID, err)
	}
	if d.Address != "" {
		err := p.Store.Suppress(ctx, Suppression{Channel: Postal, Address: d.Address, Reason: "invalid",
			Source: fmt.Sprintf("campaign %s batch %d delivery %d: returned", c.Name, batchID, d.ID), FirstSeen: now, LastSeen: now})
		if err != nil {
			return nil, fmt.Errorf("suppress the address of returned letter %d: %w", d.ID, err)
		}
	}
	if err := p.Store.Audit(ctx, AuditEntry{At: now, Actor: p.Actor, Action: "postal.returned", Subject: c.Name,
		Detail: fmt.Sprintf("batch %d delivery %d", batchID, d.ID)}); err != nil {
		return nil, fmt.Errorf("audit returned letter %d: %w", d.ID, err)
	}
	p.log().Info("letter returned", "campaign", c.ID, "batch", batchID, "delivery", d.ID)
	if err := fallback(ctx, p.Store, c, d, now); err != nil {
		return nil, err
	}
	return p.Store.Delivery(ctx, d.ID)
}

func (p *Mailroom) batchErr(id int64, err error) error {
	if errors.Is(err, ErrNotFound) {
		return Errorf(ENOTFOUND, "no print batch %d (see `herald postal list`)", id)
	}
	return err
}
