package queue

import (
	"context"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/internal/testenv"
)

// BenchmarkEnqueue measures Client.Enqueue of b.N jobs of 100 deliveries
// each in one call, on the real Redis at HERALD_TEST_REDIS_URL when set,
// else on the embedded miniredis. It reports jobs/s and deliveries/s and,
// on real Redis, the growth of used_memory per job and per queued
// delivery (noisy if other clients write meanwhile: use a large
// -benchtime, e.g. -benchtime=20000x).
//
//	HERALD_TEST_REDIS_URL=redis://127.0.0.1:6379/0 go test -run '^$' -bench Enqueue -benchtime=20000x ./queue/
func BenchmarkEnqueue(b *testing.B) {
	const perJob = 100
	for _, conc := range []int{1, 16} {
		b.Run("goroutines="+strconv.Itoa(conc), func(b *testing.B) {
			be := newTestBackend(b, os.Getenv(testenv.RedisVar))
			c := NewClient(be, ClientConfig{Concurrency: conc})
			jobs := make([]dispatcher.Job, b.N)
			for i := range jobs {
				jobs[i] = batchJob(dispatcher.Email, int64(1+i*perJob), perJob, 1)
			}
			ctx := context.Background()
			before := usedMemory(b, be)
			b.ResetTimer()
			start := time.Now()
			n, err := c.Enqueue(ctx, jobs...)
			elapsed := time.Since(start)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if n != b.N {
				b.Fatalf("enqueued %d of %d", n, b.N)
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
			b.ReportMetric(float64(b.N*perJob)/elapsed.Seconds(), "deliveries/s")
			if !be.Embedded() {
				grown := float64(usedMemory(b, be) - before)
				b.ReportMetric(grown/float64(b.N), "B/job")
				b.ReportMetric(grown/float64(b.N*perJob), "B/delivery")
			}
			b.ReportMetric(0, "ns/op") // per-call time is meaningless here: one call enqueues b.N
		})
	}
}

// usedMemory reads used_memory from INFO memory (0 on the embedded Redis).
func usedMemory(b *testing.B, be *Backend) int64 {
	b.Helper()
	if be.Embedded() {
		return 0
	}
	runtime.GC()
	info, err := be.Redis().Info(context.Background(), "memory").Result()
	if err != nil {
		b.Fatal(err)
	}
	n, err := strconv.ParseInt(infoField(info, "used_memory"), 10, 64)
	if err != nil {
		b.Fatalf("used_memory: %v", err)
	}
	return n
}
