package webhooks

import (
	"container/list"
	"sync"
)

// lru is a bounded set of recently seen keys, evicting the least recently
// added. It only saves the sink work: the sink's own, persistent
// deduplication is what makes retries safe.
type lru struct {
	mu    sync.Mutex
	size  int
	order *list.List // front: newest
	items map[string]*list.Element
}

func newLRU(size int) *lru {
	return &lru{size: size, order: list.New(), items: make(map[string]*list.Element, size)}
}

func (c *lru) contains(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.items[key]
	return ok
}

func (c *lru) add(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.items[key] = c.order.PushFront(key)
	for c.order.Len() > c.size {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.items, oldest.Value.(string))
	}
}
