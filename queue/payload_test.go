package queue

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/heraldhq/herald/dispatcher"
)

func TestPayloadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		job  dispatcher.Job
		size int // expected encoded length
	}{
		{"one", testJob(dispatcher.Email, 1, 0), 2 + 1 + 1 + 1 + 2 + 1},
		// a page of a breach campaign: IDs close together cost one byte of
		// difference each, plus one of generation
		{"hundred at breach scale", batchJob(dispatcher.SMS, 11_600_000, 100, 1), 2 + 1 + 1 + 1 + 4 + 1 + 99*2},
		{"retried file job", dispatcher.Job{CampaignID: 300, Channel: dispatcher.File, Tries: 3, Items: []dispatcher.JobItem{{DeliveryID: 7, Generation: 1}}}, 2 + 2 + 1 + 1 + 1 + 1},
		{"extremes", dispatcher.Job{CampaignID: math.MaxInt64, Channel: dispatcher.Email, Tries: math.MaxInt32,
			Items: []dispatcher.JobItem{{DeliveryID: 1}, {DeliveryID: math.MaxInt64, Generation: math.MaxInt32}}}, 2 + 9 + 5 + 1 + 1 + 1 + 9 + 5},
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
			if p[0] != payloadV2 {
				t.Errorf("version byte %d, want %d", p[0], payloadV2)
			}
			got, err := DecodePayload(p)
			if err != nil {
				t.Fatalf("DecodePayload: %v", err)
			}
			if !reflect.DeepEqual(got, tt.job) {
				t.Errorf("round trip: got %+v, want %+v", got, tt.job)
			}
		})
	}
}

// TestDecodeVersion1 reads a task written by herald before batched jobs,
// which may still sit in Redis after an upgrade.
func TestDecodeVersion1(t *testing.T) {
	v1 := []byte{payloadV1, 2} // sms
	for _, v := range []uint64{12, 5_800_000, 11_600_000, 3} {
		v1 = binary.AppendUvarint(v1, v)
	}
	got, err := DecodePayload(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := dispatcher.Job{CampaignID: 12, Channel: dispatcher.SMS, Items: []dispatcher.JobItem{{DeliveryID: 11_600_000, Generation: 3}}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("v1 payload = %+v, want %+v", got, want)
	}
}

func TestPayloadIgnoresQueueFields(t *testing.T) {
	j := testJob(dispatcher.Email, 7, 2)
	a, _ := EncodePayload(j)
	j.Retry, j.MaxRetry = 3, 8
	b, _ := EncodePayload(j)
	if !bytes.Equal(a, b) {
		t.Errorf("Retry/MaxRetry changed the payload: %x vs %x", a, b)
	}
}

func TestEncodePayloadRejectsInvalidJobs(t *testing.T) {
	ok := batchJob(dispatcher.Email, 10, 3, 1)
	tests := []struct {
		name string
		mod  func(*dispatcher.Job)
	}{
		{"unknown channel", func(j *dispatcher.Job) { j.Channel = "fax" }},
		{"empty channel", func(j *dispatcher.Job) { j.Channel = "" }},
		{"zero campaign", func(j *dispatcher.Job) { j.CampaignID = 0 }},
		{"no items", func(j *dispatcher.Job) { j.Items = nil }},
		{"too many items", func(j *dispatcher.Job) { *j = batchJob(dispatcher.Email, 1, MaxJobItems+1, 1) }},
		{"zero delivery", func(j *dispatcher.Job) { j.Items[0].DeliveryID = 0 }},
		{"repeated delivery", func(j *dispatcher.Job) { j.Items[1].DeliveryID = j.Items[0].DeliveryID }},
		{"out of order", func(j *dispatcher.Job) { j.Items[0], j.Items[1] = j.Items[1], j.Items[0] }},
		{"negative generation", func(j *dispatcher.Job) { j.Items[2].Generation = -1 }},
		{"huge generation", func(j *dispatcher.Job) { j.Items[2].Generation = math.MaxInt32 + 1 }},
		{"negative tries", func(j *dispatcher.Job) { j.Tries = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := ok
			j.Items = append([]dispatcher.JobItem(nil), ok.Items...)
			tt.mod(&j)
			_, err := EncodePayload(j)
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Errorf("EncodePayload(%+v) = %v, want an EINVALID error", j, err)
			}
		})
	}
}

func TestDecodePayloadRejects(t *testing.T) {
	valid, _ := EncodePayload(batchJob(dispatcher.SMS, 5, 2, 3))
	tests := []struct {
		name string
		p    []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
		{"version only", []byte{payloadV2}},
		{"unknown version", append([]byte{3}, valid[1:]...)},
		{"zero version", append([]byte{0}, valid[1:]...)},
		{"unknown channel", []byte{payloadV2, 9, 1, 0, 1, 1, 0}},
		{"zero channel", []byte{payloadV2, 0, 1, 0, 1, 1, 0}},
		{"truncated", valid[:len(valid)-1]},
		{"trailing byte", append(bytes.Clone(valid), 0)},
		{"non-minimal varint", []byte{payloadV2, 1, 0x81, 0x00, 0, 1, 1, 0}},
		{"zero campaign", []byte{payloadV2, 1, 0, 0, 1, 1, 0}},
		{"no items", []byte{payloadV2, 1, 1, 0, 0}},
		{"count beyond the bytes", []byte{payloadV2, 1, 1, 0, 100, 1, 0}},
		{"count beyond the limit", binary.AppendUvarint([]byte{payloadV2, 1, 1, 0}, MaxJobItems+1)},
		{"repeated delivery", []byte{payloadV2, 1, 1, 0, 2, 5, 0, 0, 0}},
		{"zero first delivery", []byte{payloadV2, 1, 1, 0, 1, 0, 0}},
		{"varint overflow", append([]byte{payloadV2, 1}, bytes.Repeat([]byte{0xff}, 11)...)},
		{"beyond int64", binary.AppendUvarint([]byte{payloadV2, 1}, math.MaxUint64)},
		{"ids add up beyond int64", binary.AppendUvarint(binary.AppendUvarint([]byte{payloadV2, 1, 1, 0, 2}, math.MaxInt64), 0)},
		{"generation beyond int32", binary.AppendUvarint([]byte{payloadV2, 1, 1, 0, 1, 1}, math.MaxInt32+1)},
		{"v1 generation beyond int32", binary.AppendUvarint([]byte{payloadV1, 1, 1, 1, 1}, math.MaxInt32+1)},
		{"json", []byte(`{"campaign":1}`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := DecodePayload(tt.p)
			if !errors.Is(err, ErrBadPayload) {
				t.Fatalf("DecodePayload(%x) = %+v, %v; want ErrBadPayload", tt.p, j, err)
			}
			if !reflect.DeepEqual(j, dispatcher.Job{}) {
				t.Errorf("DecodePayload returned a job with its error: %+v", j)
			}
		})
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
// job; version 1 payloads, which re-encode as version 2, excepted).
func FuzzDecodePayload(f *testing.F) {
	for _, j := range []dispatcher.Job{
		testJob(dispatcher.Email, 1, 0),
		batchJob(dispatcher.SMS, 11_600_000, 100, 1),
		batchJob(dispatcher.File, 1, 5, 1<<40),
	} {
		p, _ := EncodePayload(j)
		f.Add(p)
	}
	f.Add([]byte{})
	f.Add([]byte{payloadV1, 1, 0x81, 0x00, 1, 1, 0})
	f.Add([]byte{payloadV1, 2, 1, 1, 1, 0})
	f.Add([]byte{payloadV2, 1, 1, 0, 2, 5, 0, 0, 0})
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
		if p[0] == payloadV2 && !bytes.Equal(again, p) {
			t.Fatalf("non-canonical payload accepted: %x re-encodes as %x", p, again)
		}
		if p[0] == payloadV1 && len(j.Items) != 1 {
			t.Fatalf("a version 1 payload gave %d items", len(j.Items))
		}
	})
}
