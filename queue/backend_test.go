package queue

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"github.com/heraldhq/herald/dispatcher"
)

func TestParseURL(t *testing.T) {
	tests := []struct {
		url  string
		want asynq.RedisConnOpt
	}{
		{"redis://127.0.0.1:6379/0", asynq.RedisClientOpt{Addr: "127.0.0.1:6379", PoolSize: 32}},
		{"redis://:s3cret@redis.internal:6380/3", asynq.RedisClientOpt{Addr: "redis.internal:6380", Password: "s3cret", DB: 3, PoolSize: 32}},
		{"redis://herald:s3cret@redis.internal:6379", asynq.RedisClientOpt{Addr: "redis.internal:6379", Username: "herald", Password: "s3cret", PoolSize: 32}},
		{"redis-socket://:pw@/var/run/redis.sock?db=2", asynq.RedisClientOpt{Network: "unix", Addr: "/var/run/redis.sock", Password: "pw", DB: 2, PoolSize: 32}},
		{"redis-sentinel://:pw@s1:26379,s2:26379,s3:26379?master=mymaster", asynq.RedisFailoverClientOpt{
			MasterName: "mymaster", SentinelAddrs: []string{"s1:26379", "s2:26379", "s3:26379"}, SentinelPassword: "pw", Password: "pw", PoolSize: 32}},
		{"redis-cluster://n1:7000,n2:7001,n3:7002", asynq.RedisClusterClientOpt{Addrs: []string{"n1:7000", "n2:7001", "n3:7002"}}},
		{"redis-cluster://herald:pw@n1:7000", asynq.RedisClusterClientOpt{Addrs: []string{"n1:7000"}, Username: "herald", Password: "pw"}},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			got, err := parseURL(tt.url, 32)
			if err != nil {
				t.Fatalf("parseURL: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseURL =\n %#v\nwant\n %#v", got, tt.want)
			}
		})
	}

	t.Run("rediss sets TLS", func(t *testing.T) {
		got, err := parseURL("rediss://:pw@redis.example.net:6380/1", 32)
		if err != nil {
			t.Fatal(err)
		}
		co, ok := got.(asynq.RedisClientOpt)
		if !ok || co.TLSConfig == nil || co.TLSConfig.ServerName != "redis.example.net" || co.DB != 1 {
			t.Errorf("rediss: got %#v", got)
		}
	})
}

func TestParseURLErrors(t *testing.T) {
	for _, u := range []string{
		"http://127.0.0.1:6379",
		"redis://127.0.0.1:6379/notadb",
		"redis://",
		"redis-sentinel://s1:26379",
		"redis-cluster://",
		"redis://:pa%zz@host",
		"postgres://:hunter2@db:5432/x",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := parseURL(u, 32)
			if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
				t.Fatalf("parseURL(%q) = %v, want EINVALID", u, err)
			}
			if strings.Contains(err.Error(), "hunter2") || strings.Contains(err.Error(), "pa%zz") {
				t.Errorf("error leaks the password: %v", err)
			}
		})
	}
}

func TestVersionAtLeast(t *testing.T) {
	tests := []struct {
		v    string
		want bool
	}{
		{"7.0.15", true}, {"6.2.0", true}, {"6.2", true}, {"8", true}, {"10.0.1", true},
		{"6.0.16", false}, {"5.0.7", false}, {"6.1.9", false},
		{"unknown", true}, // unreadable: let through
	}
	for _, tt := range tests {
		if got := versionAtLeast(tt.v, 6, 2); got != tt.want {
			t.Errorf("versionAtLeast(%q, 6, 2) = %v, want %v", tt.v, got, tt.want)
		}
	}
	if got := infoField("# Server\r\nredis_version:7.0.15\r\nredis_mode:standalone\r\n", "redis_version"); got != "7.0.15" {
		t.Errorf("infoField = %q", got)
	}
}

func TestConnectRejectsBadNamespace(t *testing.T) {
	for _, ns := range []string{"has space", "brace{", "x}", "star*", strings.Repeat("a", 41)} {
		_, err := Connect(context.Background(), "", WithNamespace(ns))
		if dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("namespace %q: err = %v, want EINVALID", ns, err)
		}
	}
}

func TestConnectUnreachable(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	// Port 1 on loopback: nothing listens there.
	_, err := Connect(ctx, "redis://:secret@127.0.0.1:1/0")
	if err == nil {
		t.Fatal("Connect to a closed port succeeded")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Errorf("error leaks the password: %v", err)
	}
}

func TestBackend(t *testing.T) {
	eachBackend(t, func(t *testing.T, b *Backend) {
		ctx := context.Background()
		if err := b.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		for _, k := range Channels() {
			if got, want := b.QueueName(k), b.Namespace()+string(k); got != want {
				t.Errorf("QueueName(%s) = %q, want %q", k, got, want)
			}
		}
		if b.RedisConnOpt() == nil {
			t.Error("RedisConnOpt is nil")
		}
		// Nothing enqueued yet: every channel reports zeros.
		ds, err := b.Depth(ctx)
		if err != nil {
			t.Fatalf("Depth: %v", err)
		}
		if len(ds) != len(Channels()) {
			t.Fatalf("Depth returned %d queues, want %d", len(ds), len(Channels()))
		}
		for i, d := range ds {
			if d.Channel != Channels()[i] || d.Queue != b.QueueName(Channels()[i]) || d.Pending+d.Active+d.Scheduled+d.Retry+d.Archived != 0 {
				t.Errorf("Depth[%d] = %+v", i, d)
			}
		}
	})
}

func TestDefaultNamespace(t *testing.T) {
	b, err := Connect(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !b.Embedded() {
		t.Error("empty URL is not embedded")
	}
	if got := b.QueueName(dispatcher.Email); got != "herald:email" {
		t.Errorf("default queue name %q, want herald:email", got)
	}
}

func TestCloseIsIdempotentAndStopsEmbedded(t *testing.T) {
	b, err := Connect(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	addr := b.RedisConnOpt().(asynq.RedisClientOpt).Addr
	if err := b.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	other, err := Connect(ctx, "redis://"+addr)
	if err == nil {
		other.Close()
		t.Fatal("the embedded redis still answers after Close")
	}
}

// TestEmbeddedTTLsExpire checks that the embedded miniredis counts TTLs
// down with real time, without FastForward: asynq's unique locks (and
// stats keys, heartbeats and retention) would otherwise never expire.
func TestEmbeddedTTLsExpire(t *testing.T) {
	b := newTestBackend(t, "")
	ctx := context.Background()

	if err := b.Redis().Set(ctx, b.Namespace()+"k", "v", 200*time.Millisecond).Err(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a 200ms key to expire", func() bool {
		n, err := b.Redis().Exists(ctx, b.Namespace()+"k").Result()
		return err == nil && n == 0
	})

	// An asynq Unique lock: a second identical task is refused until the
	// lock's TTL has run out on the clock.
	ac := asynq.NewClientFromRedisClient(b.Redis())
	task := asynq.NewTask("ttl-probe", []byte("x"))
	q := asynq.Queue(b.QueueName(dispatcher.File))
	if _, err := ac.EnqueueContext(ctx, task, q, asynq.Unique(time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := ac.EnqueueContext(ctx, task, q, asynq.Unique(time.Second)); !errors.Is(err, asynq.ErrDuplicateTask) {
		t.Fatalf("second enqueue within the lock: %v, want ErrDuplicateTask", err)
	}
	start := time.Now()
	waitFor(t, "the unique lock to expire", func() bool {
		_, err := ac.EnqueueContext(ctx, task, q, asynq.Unique(time.Second))
		return err == nil
	})
	if time.Since(start) < 500*time.Millisecond {
		t.Errorf("the 1s unique lock expired after %s", time.Since(start))
	}
}
