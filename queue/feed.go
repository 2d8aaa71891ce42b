package queue

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/heraldhq/herald/dispatcher"
)

// This file is the queue's side of backpressure (dispatcher.FeedQueue):
// how many jobs a channel's queue holds, and the feed cursors.
//
// A cursor is a plain Redis string per campaign and channel beside asynq's
// keys, holding the highest delivery ID the feeder has handed over. It
// lives in the same Redis as the jobs on purpose: if that Redis is flushed
// or replaced, the cursors go with the jobs and the feeders start again
// from the ledger, instead of believing work is queued that is not.

var _ dispatcher.FeedQueue = (*Client)(nil)

// feedTTL is how long a cursor outlives its last move: a campaign left
// paused longer than this is handed over again from the start when it
// resumes, which costs duplicate jobs that find nothing to claim.
const feedTTL = 14 * 24 * time.Hour

// advanceFed moves a cursor from ARGV[1] to ARGV[2] if it is at ARGV[1]
// (a missing key is 0); moving it to 0 deletes it.
var advanceFed = redis.NewScript(`
local cur = redis.call('GET', KEYS[1])
if not cur then cur = '0' end
if cur ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then
	redis.call('DEL', KEYS[1])
else
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
end
return 1
`)

// fedKey is the cursor of a campaign on channel k.
func (c *Client) fedKey(campaignID int64, k dispatcher.ChannelKind) string {
	return c.b.namespace + "feed:" + strconv.FormatInt(campaignID, 10) + ":" + string(k)
}

// Fed returns the highest delivery ID of the campaign on channel k handed
// over by a feeder, 0 when none.
func (c *Client) Fed(ctx context.Context, campaignID int64, k dispatcher.ChannelKind) (int64, error) {
	v, err := c.b.rdb.Get(ctx, c.fedKey(campaignID, k)).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read feed cursor of campaign %d on %s: %w", campaignID, k, err)
	}
	return v, nil
}

// AdvanceFed moves the cursor from from to to if it is still at from.
func (c *Client) AdvanceFed(ctx context.Context, campaignID int64, k dispatcher.ChannelKind, from, to int64) (bool, error) {
	n, err := advanceFed.Run(ctx, c.b.rdb, []string{c.fedKey(campaignID, k)},
		strconv.FormatInt(from, 10), strconv.FormatInt(to, 10), feedTTL.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("move feed cursor of campaign %d on %s: %w", campaignID, k, err)
	}
	return n == 1, nil
}

// ResetFed deletes the campaign's cursors on every channel.
func (c *Client) ResetFed(ctx context.Context, campaignID int64) error {
	for _, k := range Channels() {
		// One key at a time: in a cluster they may live on different nodes.
		if err := c.b.rdb.Del(ctx, c.fedKey(campaignID, k)).Err(); err != nil {
			return fmt.Errorf("reset feed cursors of campaign %d: %w", campaignID, err)
		}
	}
	return nil
}

// Backlog counts the tasks of channel k's queue by state with one pipeline
// of four O(1) commands on asynq's own keys (the feeders ask several times
// a second; the inspector's GetQueueInfo would also sample memory).
// TestBacklogMatchesInspector holds these key names to asynq's.
func (c *Client) Backlog(ctx context.Context, k dispatcher.ChannelKind) (dispatcher.Backlog, error) {
	prefix := "asynq:{" + c.b.QueueName(k) + "}:"
	var pending, active, scheduled, retry *redis.IntCmd
	_, err := c.b.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		pending = p.LLen(ctx, prefix+"pending")
		active = p.LLen(ctx, prefix+"active")
		scheduled = p.ZCard(ctx, prefix+"scheduled")
		retry = p.ZCard(ctx, prefix+"retry")
		return nil
	})
	if err != nil {
		return dispatcher.Backlog{}, fmt.Errorf("backlog of %s: %w", c.b.QueueName(k), err)
	}
	return dispatcher.Backlog{Pending: int(pending.Val()), Active: int(active.Val()),
		Scheduled: int(scheduled.Val()), Retry: int(retry.Val())}, nil
}
