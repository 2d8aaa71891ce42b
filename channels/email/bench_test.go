package email_test

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/heraldhq/herald/channels/email"
	"github.com/heraldhq/herald/channels/smtpd"
)

// BenchmarkSend measures whole sends (render, SMTP transaction, reply)
// through the pool against the in-process server in Discard mode, with as
// many concurrent senders as connections.
//
//	go test -run '^$' -bench BenchmarkSend -benchtime 5000x ./channels/email/
func BenchmarkSend(b *testing.B) {
	for _, pool := range []int{1, 4, 16} {
		b.Run(fmt.Sprintf("pool=%d", pool), func(b *testing.B) {
			s := startSMTP(b, smtpd.Options{Discard: true})
			ch := newChannel(b, s, func(c *email.Config) { c.PoolSize = pool })
			ctx := context.Background()
			var id atomic.Int64
			b.SetParallelism((pool + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					n := id.Add(1)
					if _, err := ch.Send(ctx, notice(n, fmt.Sprintf("person%d@example.no", n))); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
			if s.Connections() > pool {
				b.Errorf("%d connections for pool size %d", s.Connections(), pool)
			}
		})
	}
}
