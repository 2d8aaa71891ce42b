package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// ErrBadPayload reports a task whose type or payload this version of herald
// cannot read. Such a task can never succeed, so the worker archives it
// instead of retrying it.
var ErrBadPayload = errors.New("malformed task payload")

// payloadV1 is the first byte of every payload this version writes. A new
// layout gets a new version byte, and DecodePayload keeps reading the old
// ones while tasks written by an older herald may still be in Redis.
const payloadV1 byte = 1

// maxPayloadLen bounds a v1 payload: version, channel and four uvarints of
// at most ten bytes each.
const maxPayloadLen = 2 + 4*binary.MaxVarintLen64

// Channel codes in the payload; zero is never valid so that a zeroed buffer
// does not decode.
var (
	channelCodes = map[dispatcher.ChannelKind]byte{dispatcher.Email: 1, dispatcher.SMS: 2, dispatcher.File: 3}
	codeChannels = map[byte]dispatcher.ChannelKind{1: dispatcher.Email, 2: dispatcher.SMS, 3: dispatcher.File}
	// channelLetters is the one-letter channel mark in task IDs.
	channelLetters = map[dispatcher.ChannelKind]byte{dispatcher.Email: 'e', dispatcher.SMS: 's', dispatcher.File: 'f'}
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

// validJob checks what EncodePayload and TaskID rely on. IDs must be
// positive (the ledger's serial keys) and the generation between 0 and
// MaxInt32.
func validJob(j dispatcher.Job) error {
	if _, ok := channelCodes[j.Channel]; !ok {
		return dispatcher.Errorf(dispatcher.EINVALID, "job for delivery %d has unknown channel %q", j.DeliveryID, j.Channel)
	}
	if j.CampaignID <= 0 || j.ContactID <= 0 || j.DeliveryID <= 0 {
		return dispatcher.Errorf(dispatcher.EINVALID, "job has a missing id (campaign %d, contact %d, delivery %d)", j.CampaignID, j.ContactID, j.DeliveryID)
	}
	if j.Generation < 0 || j.Generation > math.MaxInt32 {
		return dispatcher.Errorf(dispatcher.EINVALID, "job for delivery %d has generation %d out of range", j.DeliveryID, j.Generation)
	}
	return nil
}

// EncodePayload returns the task payload for j: a version byte, a channel
// byte and the campaign, contact and delivery IDs and the generation as
// unsigned varints. Typical size is 10–16 bytes, which matters at millions
// of tasks in Redis. Retry and MaxRetry are not encoded: asynq tracks them.
func EncodePayload(j dispatcher.Job) ([]byte, error) {
	if err := validJob(j); err != nil {
		return nil, err
	}
	b := make([]byte, 0, maxPayloadLen)
	b = append(b, payloadV1, channelCodes[j.Channel])
	b = binary.AppendUvarint(b, uint64(j.CampaignID))
	b = binary.AppendUvarint(b, uint64(j.ContactID))
	b = binary.AppendUvarint(b, uint64(j.DeliveryID))
	b = binary.AppendUvarint(b, uint64(j.Generation))
	return b, nil
}

// DecodePayload reads a payload written by EncodePayload. The bytes come
// from Redis, so anything else — another version, a truncated or padded
// buffer, a non-minimal varint, an out-of-range value — is ErrBadPayload
// (wrapped) and never a panic. The error names no payload bytes.
func DecodePayload(p []byte) (dispatcher.Job, error) {
	var j dispatcher.Job
	if len(p) == 0 {
		return j, fmt.Errorf("%w: empty", ErrBadPayload)
	}
	if p[0] != payloadV1 {
		return j, fmt.Errorf("%w: unknown version %d", ErrBadPayload, p[0])
	}
	if len(p) < 2 {
		return j, fmt.Errorf("%w: truncated", ErrBadPayload)
	}
	k, ok := codeChannels[p[1]]
	if !ok {
		return j, fmt.Errorf("%w: unknown channel code %d", ErrBadPayload, p[1])
	}
	j.Channel = k
	rest := p[2:]
	var fields [4]int64
	names := [4]string{"campaign", "contact", "delivery", "generation"}
	for i := range fields {
		v, n := binary.Uvarint(rest)
		if n <= 0 {
			return dispatcher.Job{}, fmt.Errorf("%w: bad %s field", ErrBadPayload, names[i])
		}
		// Reject non-minimal encodings so one job has exactly one payload.
		if n != uvarintLen(v) {
			return dispatcher.Job{}, fmt.Errorf("%w: non-minimal %s field", ErrBadPayload, names[i])
		}
		if v > math.MaxInt64 {
			return dispatcher.Job{}, fmt.Errorf("%w: %s field out of range", ErrBadPayload, names[i])
		}
		fields[i] = int64(v)
		rest = rest[n:]
	}
	if len(rest) != 0 {
		return dispatcher.Job{}, fmt.Errorf("%w: %d trailing bytes", ErrBadPayload, len(rest))
	}
	if fields[3] > math.MaxInt32 {
		return dispatcher.Job{}, fmt.Errorf("%w: generation out of range", ErrBadPayload)
	}
	j.CampaignID, j.ContactID, j.DeliveryID, j.Generation = fields[0], fields[1], fields[2], int(fields[3])
	if err := validJob(j); err != nil {
		return dispatcher.Job{}, fmt.Errorf("%w: %w", ErrBadPayload, err)
	}
	return j, nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

// TaskID is the asynq task ID of j: campaign and contact in base 36, then
// the channel letter and the generation, e.g. "c.3gbb4.e0". It is short
// because Redis stores it three times per task (key, list entry, message),
// and it leaves out the delivery ID because campaign, contact and channel
// already name one delivery. Equal IDs within one queue mean the same work,
// so asynq refuses the second enqueue while the first is in Redis.
func TaskID(j dispatcher.Job) string {
	b := make([]byte, 0, 32)
	b = strconv.AppendInt(b, j.CampaignID, 36)
	b = append(b, '.')
	b = strconv.AppendInt(b, j.ContactID, 36)
	b = append(b, '.', channelLetters[j.Channel])
	b = strconv.AppendInt(b, int64(j.Generation), 36)
	return string(b)
}
