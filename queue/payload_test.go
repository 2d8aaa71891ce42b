package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		job  dispatcher.Job
		size int // expected encoded length
	}{
		{"small", dispatcher.Job{CampaignID: 1, ContactID: 1, DeliveryID: 1, Channel: dispatcher.Email}, 6},
		{"breach scale", dispatcher.Job{CampaignID: 12, ContactID: 5_800_000, DeliveryID: 11_600_000, Channel: dispatcher.SMS, Generation: 3}, 2 + 1 + 4 + 4 + 1},
		{"file", dispatcher.Job{CampaignID: 300, ContactID: 299, DeliveryID: 7, Channel: dispatcher.File, Generation: 1}, 2 + 2 + 2 + 1 + 1},
		{"extremes", dispatcher.Job{CampaignID: math.MaxInt64, ContactID: math.MaxInt64, DeliveryID: math.MaxInt64, Channel: dispatcher.Email, Generation: math.MaxInt32}, 2 + 9 + 9 + 9 + 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := EncodePayload(tt.job)
			if err != nil {
				t.Fatalf("EncodePayload: %v", err)
			}
			if len(p) != tt.size {
				t.Errorf("payload is %d bytes, want %d", len(p), tt.size)
			}
			if p[0] != payloadV1 {
				t.Errorf("version byte %d, want %d", p[0], payloadV1)
			}
			got, err := DecodePayload(p)
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			if got != tt.job {
				t.Errorf("round trip: got %+v, want %+v", got, tt.job)
			}
		})
	}
}

func TestPayloadIgnoresRetryCounts(t *testing.T) {
	j := testJob(dispatcher.Email, 7, 2)
	a, _ := EncodePayload(j)
	j.Retry, j.MaxRetry = 3, 8
	b, _ := EncodePayload(j)
	if !bytes.Equal(a, b) {
		t.Errorf("Retry/MaxRetry changed the payload: %x vs %x", a, b)
	}
}

func TestEncodePayloadRejectsInvalidJobs(t *testing.T) {
	ok := testJob(dispatcher.Email, 1, 0)
	tests := []struct {
		name string
		mod  func(*dispatcher.Job)
	}{
		{"unknown channel", func(j *dispatcher.Job) { j.Channel = "fax" }},
		{"empty channel", func(j *dispatcher.Job) { j.Channel = "" }},
		{"zero campaign", func(j *dispatcher.Job) { j.CampaignID = 0 }},
		{"negative contact", func(j *dispatcher.Job) { j.ContactID = -1 }},
		{"zero delivery", func(j *dispatcher.Job) { j.DeliveryID = 0 }},
		{"negative generation", func(j *dispatcher.Job) { j.Generation = -1 }},
		{"huge generation", func(j *dispatcher.Job) { j.Generation = math.MaxInt32 + 1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := ok
			tt.mod(&j)
			_, err := EncodePayload(j)
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("EncodePayload(%+v) = %v, want an EINVALID error", j, err)
			}
		})
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	valid, _ := EncodePayload(testJob(dispatcher.SMS, 5, 1))
	tests := []struct {
		name string
		p    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version only", []byte{payloadV1}},
		{"unknown version", append([]byte{2}, valid[1:]...)},
		{"zero version", append([]byte{0}, valid[1:]...)},
		{"unknown channel", []byte{payloadV1, 9, 1, 1, 1, 0}},
		{"zero channel", []byte{payloadV1, 0, 1, 1, 1, 0}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"non-minimal varint", []byte{payloadV1, 1, 0x81, 0x00, 1, 1, 0}},
		{"zero campaign", []byte{payloadV1, 1, 0, 1, 1, 0}},
		{"varint overflow", append([]byte{payloadV1, 1}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"beyond int64", binary.AppendUvarint([]byte{payloadV1, 1}, math.MaxUint64)},
		{"generation beyond int32", binary.AppendUvarint([]byte{payloadV1, 1, 1, 1, 1}, math.MaxInt32+1)},
		{"json", []byte(`{"campaign":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodePayload(tt.p)
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("DecodePayload(%x) = %+v, %v; want ErrBadPayload", tt.p, j, err)
			}
			if j != (dispatcher.Job{}) {
				t.Errorf("DecodePayload returned a job with its error: %+v", j)
			}
		})
	}
}

func TestTaskID(t *testing.T) {
	base := dispatcher.Job{CampaignID: 12, ContactID: 5_800_000, DeliveryID: 99, Channel: dispatcher.Email, Generation: 0}
	if got, want := TaskID(base), "c.3gbb4.e0"; got != want {
		t.Errorf("TaskID = %q, want %q", got, want)
	}
	ids := map[string]string{}
	variants := map[string]dispatcher.Job{"base": base}
	add := func(name string, mod func(*dispatcher.Job)) {
		j := base
		mod(&j)
		variants[name] = j
	}
	add("campaign", func(j *dispatcher.Job) { j.CampaignID++ })
	add("contact", func(j *dispatcher.Job) { j.ContactID++ })
	add("channel", func(j *dispatcher.Job) { j.Channel = dispatcher.SMS })
	add("generation", func(j *dispatcher.Job) { j.Generation = 1 })
	add("ids run together", func(j *dispatcher.Job) { j.CampaignID, j.ContactID = 1, 23 }) // not confused with 12/3
	for name, j := range variants {
		id := TaskID(j)
		if other, dup := ids[id]; dup {
			t.Errorf("%s and %s share task ID %q", name, other, id)
		}
		ids[id] = name
		if len(id) > 24 {
			t.Errorf("%s: task ID %q is longer than 24 bytes", name, id)
		}
	}
	// The delivery id and retry counts do not change the identity of the work.
	same := base
	same.DeliveryID, same.Retry, same.MaxRetry = 7, 2, 8
	if TaskID(same) != TaskID(base) {
		t.Errorf("TaskID depends on delivery id or retry counts")
	}
}

func TestChannelOfType(t *testing.T) {
	for _, k := range Channels() {
		got, ok := channelOfType(taskType(k))
		if !ok || got != k {
			t.Errorf("channelOfType(%q) = %q, %v", taskType(k), got, ok)
		}
	}
	for _, typ := range []string{"", "send:", "send:fax", "email", "sendemail", "asynq:email"} {
		if _, ok := channelOfType(typ); ok {
			t.Errorf("channelOfType(%q) accepted it", typ)
		}
	}
}

// FuzzDecodePayload feeds DecodePayload arbitrary bytes, as a damaged or
// foreign task in Redis would: it must never panic, and whatever it accepts
// must be a valid job whose encoding is exactly the input (one payload per
// job).
func FuzzDecodePayload(f *testing.F) {
	for _, j := range []dispatcher.Job{
		testJob(dispatcher.Email, 1, 0),
		{CampaignID: 12, ContactID: 5_800_000, DeliveryID: 11_600_000, Channel: dispatcher.SMS, Generation: 3},
		{CampaignID: math.MaxInt64, ContactID: 1, DeliveryID: math.MaxInt64, Channel: dispatcher.File, Generation: math.MaxInt32},
	} {
		p, _ := EncodePayload(j)
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{payloadV1, 1, 0x81, 0x00, 1, 1, 0})
	f.Add([]byte{2, 1, 1, 1, 1, 0})
	f.Fuzz(func(t *testing.T, p []byte) {
		j, err := DecodePayload(p)
		if err != nil {
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("error does not wrap ErrBadPayload: %v", err)
			}
			return
		}
		if err := validJob(j); err != nil {
			t.Fatalf("accepted an invalid job %+v: %v", j, err)
		}
		again, err := EncodePayload(j)
		if err != nil {
			t.Fatalf("cannot re-encode accepted job %+v: %v", j, err)
		}
		if !bytes.Equal(again, p) {
			t.Fatalf("non-canonical payload accepted: %x re-encodes as %x", p, again)
		}
	})
}
