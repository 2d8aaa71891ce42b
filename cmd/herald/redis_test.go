package main

import (
	"context"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// assertNoPIIInRedis reads every key of the namespace's queues, task
// hashes included, and fails if any value holds a name, address or
// number. It also checks that the tasks are there, so the test cannot pass
// by looking at nothing.
func assertNoPIIInRedis(t *testing.T, rdb redis.UniversalClient, ns string, pii []string, wantTasks int) {
	t.Helper()
	ctx := context.Background()
	// asynq's keys of the namespace's queues, and herald's own (feed
	// cursors, rate limits).
	var keys []string
	for _, pattern := range []string{"asynq:{" + ns + "*", ns + "*"} {
		iter := rdb.Scan(ctx, 0, pattern, 1000).Iterator()
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
	}
	var dump strings.Builder
	tasks := 0
	for _, k := range keys {
		typ, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch typ {
		case "hash":
			m, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := m["msg"]; ok {
				tasks++
			}
			for f, v := range m {
				dump.WriteString(f + "=" + v + "\n")
			}
		case "list":
			vs, _ := rdb.LRange(ctx, k, 0, -1).Result()
			dump.WriteString(strings.Join(vs, "\n"))
		case "string":
			v, _ := rdb.Get(ctx, k).Result()
			dump.WriteString(v)
		}
	}
	if tasks < wantTasks*9/10 {
		t.Fatalf("found %d task hashes in Redis, want about %d: the PII check would prove nothing", tasks, wantTasks)
	}
	s := dump.String()
	for _, p := range pii {
		if strings.Contains(s, p) {
			t.Fatalf("Redis holds personal data %q", p)
		}
	}
}
