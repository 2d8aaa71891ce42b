package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// ErrBadPayload reports a task whose type or payload this version of herald
// cannot read. Such a task can never succeed, so the worker archives it
// instead of retrying it.
var ErrBadPayload = errors.New("malformed task payload")

// Payload versions. Every payload starts with its version byte; a new
// layout gets a new byte, and DecodePayload keeps reading the old ones
// while tasks written by an older herald may still be in Redis.
const (
	// payloadV1 is one delivery: channel, campaign, contact, delivery and
	// generation (herald before batched jobs).
	payloadV1 byte = 1
	// payloadV2 is a batch: channel, campaign, tries, the number of items,
	// then each item's delivery ID as the difference from the previous one
	// and its generation.
	payloadV2 byte = 2
)

// MaxJobItems bounds the deliveries of one job, so that a payload read from
// Redis can never ask for an unbounded allocation.
const MaxJobItems = 10000

// Channel codes in the payload; zero is never valid so that a zeroed buffer
// does not decode.
var (
	channelCodes = map[dispatcher.ChannelKind]byte{dispatcher.Email: 1, dispatcher.SMS: 2, dispatcher.File: 3}
	codeChannels = map[byte]dispatcher.ChannelKind{1: dispatcher.Email, 2: dispatcher.SMS, 3: dispatcher.File}
)

// taskTypePrefix starts every herald task type: send:email, send:sms, send:file.
const taskTypePrefix = "send:"

// taskType is the asynq task type for jobs on channel k.
func taskType(k dispatcher.ChannelKind) string { return taskTypePrefix + string(k) }

// channelOfType is the inverse of taskType.
func channelOfType(typ string) (dispatcher.ChannelKind, bool) {
	k, ok := strings.CutPrefix(typ, taskTypePrefix)
	if !ok {
		return "", false
	}
	_, known := channelCodes[dispatcher.ChannelKind(k)]
	return dispatcher.ChannelKind(k), known
}

// validJob checks what EncodePayload relies on: a known channel, a
// campaign, between one and MaxJobItems items with positive, strictly
// increasing delivery IDs (dispatcher.NewJob sorts them), generations and
// tries between 0 and MaxInt32.
func validJob(j dispatcher.Job) error {
	if _, ok := channelCodes[j.Channel]; !ok {
		return dispatcher.Errorf(dispatcher.EINVALID, "job of campaign %d has unknown channel %q", j.CampaignID, j.Channel)
	}
	if j.CampaignID <= 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "job has no campaign id")
	}
	if len(j.Items) == 0 || len(j.Items) > MaxJobItems {
		return dispatcher.Errorf(dispatcher.EINVALID, "job of campaign %d has %d deliveries: a job carries 1 to %d", j.CampaignID, len(j.Items), MaxJobItems)
	}
	if j.Tries < 0 || j.Tries > math.MaxInt32 {
		return dispatcher.Errorf(dispatcher.EINVALID, "job of campaign %d has tries %d out of range", j.CampaignID, j.Tries)
	}
	var prev int64
	for _, it := range j.Items {
		if it.DeliveryID <= prev {
			return dispatcher.Errorf(dispatcher.EINVALID, "job of campaign %d: delivery %d is not positive or not in ascending order", j.CampaignID, it.DeliveryID)
		}
		if it.Generation < 0 || it.Generation > math.MaxInt32 {
			return dispatcher.Errorf(dispatcher.EINVALID, "job for delivery %d has generation %d out of range", it.DeliveryID, it.Generation)
		}
		prev = it.DeliveryID
	}
	return nil
}

// EncodePayload returns the task payload for j (version 2): a version
// byte, a channel byte, then the campaign, tries and item count as
// unsigned varints, and each item's delivery ID (as the difference from
// the previous item's) and generation. A hundred deliveries of one
// campaign, numbered close together, take about 200 bytes: IDs only, never
// a name, address or text. NotBefore, Retry and MaxRetry are not encoded:
// asynq holds the task until NotBefore and tracks its retries.
func EncodePayload(j dispatcher.Job) ([]byte, error) {
	if err := validJob(j); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 2+3*binary.MaxVarintLen64+len(j.Items)*3)
	b = append(b, payloadV2, channelCodes[j.Channel])
	b = binary.AppendUvarint(b, uint64(j.CampaignID))
	b = binary.AppendUvarint(b, uint64(j.Tries))
	b = binary.AppendUvarint(b, uint64(len(j.Items)))
	var prev int64
	for _, it := range j.Items {
		b = binary.AppendUvarint(b, uint64(it.DeliveryID-prev))
		b = binary.AppendUvarint(b, uint64(it.Generation))
		prev = it.DeliveryID
	}
	return b, nil
}

// DecodePayload reads a payload written by EncodePayload, or by an older
// herald's version 1. The bytes come from Redis, so anything else — an
// unknown version, a truncated or padded buffer, a non-minimal varint, an
// out-of-range value, items out of order — is ErrBadPayload (wrapped) and
// never a panic. The error names no payload bytes.
func DecodePayload(p []byte) (dispatcher.Job, error) {
	if len(p) == 0 {
		return dispatcher.Job{}, fmt.Errorf("%w: empty", ErrBadPayload)
	}
	if p[0] != payloadV1 && p[0] != payloadV2 {
		return dispatcher.Job{}, fmt.Errorf("%w: unknown version %d", ErrBadPayload, p[0])
	}
	if len(p) < 2 {
		return dispatcher.Job{}, fmt.Errorf("%w: truncated", ErrBadPayload)
	}
	k, ok := codeChannels[p[1]]
	if !ok {
		return dispatcher.Job{}, fmt.Errorf("%w: unknown channel code %d", ErrBadPayload, p[1])
	}
	r := &varints{rest: p[2:]}
	j := dispatcher.Job{Channel: k}
	if p[0] == payloadV1 {
		j.CampaignID = r.int("campaign", math.MaxInt64)
		r.int("contact", math.MaxInt64) // v1 named the contact; the ledger knows it
		id := r.int("delivery", math.MaxInt64)
		gen := r.int("generation", math.MaxInt32)
		j.Items = []dispatcher.JobItem{{DeliveryID: id, Generation: int(gen)}}
	} else {
		j.CampaignID = r.int("campaign", math.MaxInt64)
		j.Tries = int(r.int("tries", math.MaxInt32))
		n := r.int("count", MaxJobItems)
		if r.err == nil && int(n) > len(r.rest)/2 {
			r.err = fmt.Errorf("%w: %d items in %d bytes", ErrBadPayload, n, len(r.rest))
		}
		if r.err == nil {
			j.Items = make([]dispatcher.JobItem, n)
		}
		var id int64
		for i := range j.Items {
			d := r.int("delivery", math.MaxInt64)
			if r.err == nil && d > math.MaxInt64-id {
				r.err = fmt.Errorf("%w: delivery field out of range", ErrBadPayload)
			}
			id += d
			j.Items[i] = dispatcher.JobItem{DeliveryID: id, Generation: int(r.int("generation", math.MaxInt32))}
		}
	}
	if r.err != nil {
		return dispatcher.Job{}, r.err
	}
	if len(r.rest) != 0 {
		return dispatcher.Job{}, fmt.Errorf("%w: %d trailing bytes", ErrBadPayload, len(r.rest))
	}
	if err := validJob(j); err != nil {
		return dispatcher.Job{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return j, nil
}

// varints reads minimal unsigned varints, remembering the first error.
type varints struct {
	rest []byte
	err  error
}

// int reads one value of at most limit; after an error it returns 0.
func (r *varints) int(name string, limit uint64) int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.rest)
	switch {
	case n <= 0:
		r.err = fmt.Errorf("%w: bad %s field", ErrBadPayload, name)
	case n != uvarintLen(v):
		// Reject non-minimal encodings so one job has exactly one payload.
		r.err = fmt.Errorf("%w: non-minimal %s field", ErrBadPayload, name)
	case v > limit:
		r.err = fmt.Errorf("%w: %s field out of range", ErrBadPayload, name)
	}
	if r.err != nil {
		return 0
	}
	r.rest = r.rest[n:]
	return int64(v)
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
