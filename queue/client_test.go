package queue

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
)

func TestEnqueue(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		c := NewClient(b, ClientConfig{})
		later := time.Now().Add(time.Hour)
		held := testJob(dispatcher.Email, 3, 0)
		held.NotBefore = later
		n, err := c.Enqueue(ctx, batchJob(dispatcher.Email, 10, 100, 1), testJob(dispatcher.SMS, 1, 0), held)
		if err != nil || n != 3 {
			t.Fatalf("Enqueue = %d, %v; want 3", n, err)
		}
		// No deduplication: the same job twice is two tasks, and the
		// ledger's claim makes the second run a no-op.
		if n, err := c.Enqueue(ctx, testJob(dispatcher.SMS, 1, 0)); err != nil || n != 1 {
			t.Fatalf("again = %d, %v", n, err)
		}
		if n, err := c.Enqueue(ctx); err != nil || n != 0 {
			t.Errorf("Enqueue() = %d, %v", n, err)
		}
		if d := depthOf(t, b, dispatcher.Email); d.Pending != 1 || d.Scheduled != 1 {
			t.Errorf("email queue %+v, want one pending and one held until later", d)
		}
		if d := depthOf(t, b, dispatcher.SMS); d.Pending != 2 {
			t.Errorf("sms queue has %d pending, want 2", d.Pending)
		}
		if d := depthOf(t, b, dispatcher.File); d.Pending != 0 {
			t.Errorf("file queue has %d pending, want 0", d.Pending)
		}
	})
}

func TestEnqueueBatchFansOut(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		c := NewClient(b, ClientConfig{Concurrency: 8})
		const n = 300
		jobs := make([]dispatcher.Job, 0, n)
		for i := range n {
			k := Channels()[i%len(Channels())]
			jobs = append(jobs, testJob(k, int64(i+1), 0))
		}
		got, err := c.Enqueue(ctx, jobs...)
		if err != nil || got != n {
			t.Fatalf("Enqueue = %d, %v; want %d", got, err, n)
		}
		ds, err := b.Depth(ctx)
		if err != nil {
			t.Fatal(err)
		}
		total := 0
		for _, d := range ds {
			total += d.Pending
		}
		if total != n {
			t.Errorf("queues hold %d pending tasks, want %d", total, n)
		}
	})
}

func TestEnqueueRejectsInvalidJobBeforeEnqueuing(t *testing.T) {
	b := newTestBackend(t, "")
	c := NewClient(b, ClientConfig{})
	bad := testJob(dispatcher.Email, 2, 0)
	bad.Channel = "fax"
	got, err := c.Enqueue(context.Background(), testJob(dispatcher.Email, 1, 0), bad)
	if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
		t.Fatalf("Enqueue with a bad channel: %v, want EINVALID", err)
	}
	if got != 0 {
		t.Errorf("Enqueue counted %d for a rejected call", got)
	}
	if d := depthOf(t, b, dispatcher.Email); d.Pending != 0 {
		t.Errorf("a rejected call enqueued %d tasks", d.Pending)
	}
}

func TestEnqueueStopsWhenContextEnds(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		c := NewClient(b, ClientConfig{Concurrency: 4})
		jobs := make([]dispatcher.Job, 2000)
		for i := range jobs {
			jobs[i] = testJob(dispatcher.Email, int64(i+1), 0)
		}

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		got, err := c.Enqueue(ctx, jobs...)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Enqueue with a cancelled context: %v, want context.Canceled", err)
		}
		if got != 0 {
			t.Errorf("Enqueue with a cancelled context did %d", got)
		}

		// Cancelled midway: the counts say what was done, and match Redis.
		ctx, cancel = context.WithCancel(context.Background())
		defer cancel()
		go func() {
			waitFor(t, "some tasks to be enqueued", func() bool {
				return depthOf(t, b, dispatcher.Email).Pending > 0
			})
			cancel()
		}()
		got, err = c.Enqueue(ctx, jobs...)
		if err == nil {
			t.Skip("the batch finished before the cancel landed")
		}
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("Enqueue: %v, want context.Canceled", err)
		}
		if got == 0 || got >= len(jobs) {
			t.Errorf("Enqueue counted %d enqueued of %d", got, len(jobs))
		}
		// A task whose enqueue was cut off after Redis ran it is possible,
		// so Redis may hold a few more than counted, never fewer.
		if p := depthOf(t, b, dispatcher.Email).Pending; p < got || p > got+4 {
			t.Errorf("Redis holds %d tasks, Enqueue counted %d", p, got)
		}
	})
}

// TestTaskInRedisHoldsIDsOnly reads the task as asynq stored it and checks
// that nothing of the person is in it: the payload is IDs by construction,
// and this checks the bytes.
func TestTaskInRedisHoldsIDsOnly(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		contact := dispatcher.Contact{
			ID: 4711, CampaignID: 42, ExternalID: "EMP-00931", Name: "Kari Nordmann",
			Email: "kari.nordmann@example.no", Phone: "+4791234567", Locale: "nb", Country: "NO",
		}
		d := dispatcher.Delivery{ID: 9001, CampaignID: 42, ContactID: contact.ID, Channel: dispatcher.Email, Generation: 2}
		j := dispatcher.NewJob(d)
		if _, err := NewClient(b, ClientConfig{}).Enqueue(ctx, j); err != nil {
			t.Fatal(err)
		}
		taskKeys, err := b.Redis().Keys(ctx, "asynq:{"+b.QueueName(dispatcher.Email)+"}:t:*").Result()
		if err != nil || len(taskKeys) != 1 {
			t.Fatalf("task keys %v, %v", taskKeys, err)
		}
		fields, err := b.Redis().HGetAll(ctx, taskKeys[0]).Result()
		if err != nil {
			t.Fatalf("HGETALL %s: %v", taskKeys[0], err)
		}
		msg := []byte(fields["msg"])
		if len(msg) == 0 {
			t.Fatalf("task hash %s has no msg field: %v", taskKeys[0], fields)
		}
		payload, _ := EncodePayload(j)
		if !bytes.Contains(msg, payload) {
			t.Errorf("stored message %q lacks the payload", msg)
		}
		if len(msg) > 120 {
			t.Errorf("stored message is %d bytes; a one-delivery task should stay under 120", len(msg))
		}
		var all bytes.Buffer
		for k, v := range fields {
			fmt.Fprintf(&all, "%s=%s\n", k, v)
		}
		// Every key of this namespace, names included.
		var keys []string
		iter := b.Redis().Scan(ctx, 0, "asynq:{"+b.Namespace()+"*", 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		if len(keys) < 2 {
			t.Fatalf("found only keys %q for the namespace", keys)
		}
		all.WriteString(strings.Join(keys, "\n"))
		for _, pii := range []string{contact.Name, "Kari", "Nordmann", contact.Email, "kari.nordmann", "example.no", contact.Phone, "91234567", contact.ExternalID} {
			if bytes.Contains(bytes.ToLower(all.Bytes()), bytes.ToLower([]byte(pii))) {
				t.Errorf("Redis holds %q:\n%s", pii, all.String())
			}
		}
	})
}

func TestClientDefaults(t *testing.T) {
	b := newTestBackend(t, "")
	tests := []struct {
		cfg         ClientConfig
		maxRetry    int
		timeout     time.Duration
		concurrency int
	}{
		{ClientConfig{}, DefaultMaxRetry, DefaultTimeout, DefaultEnqueueConcurrency},
		{ClientConfig{MaxRetry: NoRetry, Timeout: 1500 * time.Millisecond, Concurrency: 3}, 0, 2 * time.Second, 3},
		{ClientConfig{MaxRetry: 3, Timeout: time.Millisecond}, 3, time.Second, DefaultEnqueueConcurrency},
	}
	for _, tt := range tests {
		c := NewClient(b, tt.cfg)
		if c.maxRetry != tt.maxRetry || c.timeout != tt.timeout || c.concurrency != tt.concurrency {
			t.Errorf("NewClient(%+v): maxRetry %d, timeout %s, concurrency %d; want %d, %s, %d",
				tt.cfg, c.maxRetry, c.timeout, c.concurrency, tt.maxRetry, tt.timeout, tt.concurrency)
		}
	}
}
