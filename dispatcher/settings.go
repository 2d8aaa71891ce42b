package dispatcher

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Settings are a campaign's optional rules, kept together so that adding
// one does not mean a schema change. The zero value is a campaign with
// herald's defaults.
type Settings struct {
	// ScheduledAt, when set on a draft, launches the campaign at that time
	// (a worker's reconciler does it, after the campaign passes its check).
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// Deadline is when every notice must be out (GDPR: without undue
	// delay; US state rules: 30–60 days). Status shows the projected
	// finish against it.
	Deadline time.Time `json:"deadline,omitzero"`
	// QuietHours is the SMS sending window in the recipient's local time,
	// "08:00-21:00" by default; "off" sends at any hour.
	QuietHours string `json:"quiet_hours,omitempty"`
}

// DefaultQuietHours is the SMS window when a campaign sets none.
const DefaultQuietHours = "08:00-21:00"

// MarshalSettings encodes settings for the ledger.
func MarshalSettings(s Settings) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", fmt.Errorf("encode campaign settings: %w", err)
	}
	return string(b), nil
}

// UnmarshalSettings decodes settings from the ledger; empty is the zero
// value.
func UnmarshalSettings(s string) (Settings, error) {
	var out Settings
	if strings.TrimSpace(s) == "" {
		return out, nil
	}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return out, fmt.Errorf("decode campaign settings: %w", err)
	}
	return out, nil
}
