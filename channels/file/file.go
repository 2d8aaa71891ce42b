// Package file is herald's dry-run channel: instead of sending, it writes
// each rendered notice to a text file, so an operator can read exactly what
// every affected person would receive before launching a campaign for real.
//
// Notices go to <dir>/campaign-<campaign id>/<delivery id>.txt. Each file
// is written to a temporary file in the same folder and renamed into place,
// so a reader never sees half a notice, and sending the same delivery again
// replaces the file whole. The files hold personal data: they are created
// readable by their owner and group only.
package file

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/heraldhq/herald/dispatcher"
)

// Permissions of what the channel creates: notices name real people.
const (
	dirMode  = 0o750
	fileMode = 0o640
)

// Option configures a Channel.
type Option func(*Channel)

// WithLogger sets the logger for per-notice debug records (IDs and paths
// only). Nil discards.
func WithLogger(l *slog.Logger) Option { return func(c *Channel) { c.log = l } }

// Channel writes notices to files under one folder. It is safe for
// concurrent use.
type Channel struct {
	dir string
	log *slog.Logger
}

// New returns a channel writing under dir, creating dir if needed.
func New(dir string, opts ...Option) (*Channel, error) {
	if strings.TrimSpace(dir) == "" {
		return nil, dispatcher.Errorf(dispatcher.EINVALID, "file channel: no output folder: give the folder to write notices to, e.g. ./dry-run")
	}
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return nil, fmt.Errorf("file channel: create output folder: %w", err)
	}
	c := &Channel{dir: dir}
	for _, o := range opts {
		o(c)
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	return c, nil
}

// Kind reports dispatcher.File.
func (c *Channel) Kind() dispatcher.ChannelKind { return dispatcher.File }

// Dir returns the folder notices are written under.
func (c *Channel) Dir() string { return c.dir }

// RelPath returns where the notice of a delivery is written, relative to
// Dir and with forward slashes: campaign-<id>/<delivery id>.txt.
func RelPath(campaignID, deliveryID int64) string {
	return "campaign-" + strconv.FormatInt(campaignID, 10) + "/" + strconv.FormatInt(deliveryID, 10) + ".txt"
}

// Send writes m to its file, replacing any earlier version atomically. The
// receipt's ProviderID is the file's path relative to Dir.
func (c *Channel) Send(ctx context.Context, m *dispatcher.Message) (dispatcher.Receipt, error) {
	if m == nil {
		return dispatcher.Receipt{}, &dispatcher.SendError{Class: dispatcher.Permanent, Diagnostic: "file channel: no message to write"}
	}
	if m.CampaignID <= 0 || m.DeliveryID <= 0 {
		return dispatcher.Receipt{}, &dispatcher.SendError{Class: dispatcher.Permanent,
			Diagnostic: fmt.Sprintf("file channel: campaign %d delivery %d: both IDs are needed to name the file", m.CampaignID, m.DeliveryID)}
	}
	if err := ctx.Err(); err != nil {
		return dispatcher.Receipt{}, fmt.Errorf("file channel: write delivery %d: %w", m.DeliveryID, err)
	}
	rel := RelPath(m.CampaignID, m.DeliveryID)
	path := filepath.Join(c.dir, filepath.FromSlash(rel))
	if err := writeAtomic(path, Render(m)); err != nil {
		return dispatcher.Receipt{}, fmt.Errorf("file channel: write delivery %d: %w", m.DeliveryID, err)
	}
	c.log.Debug("notice written", "campaign", m.CampaignID, "delivery", m.DeliveryID, "path", rel)
	return dispatcher.Receipt{ProviderID: rel, Code: "written", Detail: "dry run: not sent"}, nil
}

// writeAtomic writes data to path through a temporary file in the same
// folder, synced before it is renamed over path.
func writeAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, dirMode); err != nil {
		return fmt.Errorf("create folder: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create temporary file: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tmp.Close()
			_ = os.Remove(tmp.Name())
		}
	}()
	if err := tmp.Chmod(fileMode); err != nil {
		return fmt.Errorf("set permissions: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("sync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("rename into place: %w", err)
	}
	return nil
}
