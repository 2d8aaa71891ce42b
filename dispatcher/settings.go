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
	// (a worker's reconciler does it, if the campaign passes its check
	// then; otherwise it clears the schedule and says why in PauseReason).
	ScheduledAt time.Time `json:"scheduled_at,omitzero"`
	// ScheduleForced marks a schedule set past a failing check (`launch
	// --force --at`): the launch then goes ahead without checking again,
	// audited as forced.
	ScheduleForced bool `json:"schedule_forced,omitempty"`
	// Deadline is when every notice must be out (GDPR: without undue
	// delay; US state rules: 30–60 days). Status shows the projected
	// finish against it.
	Deadline time.Time `json:"deadline,omitzero"`
	// QuietHours is the SMS sending window in the recipient's local time,
	// "08:00-21:00" by default; "off" sends at any hour.
	QuietHours string `json:"quiet_hours,omitempty"`

	// Guard is the sender-reputation guard (see guard.go).
	Guard GuardSettings `json:"guard,omitzero"`
	// PauseReason says why the campaign paused itself, or why its
	// scheduled launch was not made; cleared on resume.
	PauseReason string `json:"pause_reason,omitempty"`

	// ConsentRequired e-mails only contacts who agreed to electronic
	// notice (Contact.EmailConsent), as the US HIPAA breach rule demands;
	// the others are skipped on e-mail with the reason and get the next
	// channel of the policy, typically sms or postal (see eligibility.go).
	ConsentRequired bool `json:"consent_required,omitempty"`
	// AllChannels sends on every channel of the policy the contact can be
	// notified on, at once, instead of the first one with fallback: for
	// notices that must go everywhere.
	AllChannels bool `json:"all_channels,omitempty"`
	// SubstituteThreshold is the number of unreachable people at which a
	// substitute notice (website, press, hotline) is due, e.g. 10 under
	// the US HIPAA rule; the unreachable report says whether it is
	// reached. 0 means none is set.
	SubstituteThreshold int `json:"substitute_threshold,omitempty"`
}

// GuardSettings tune the sender-reputation guard. Zero values take the
// defaults: the last 200 e-mails, judged after 50, pausing above 5 % hard
// bounces or 0.1 % complaints.
type GuardSettings struct {
	Off        bool    `json:"off,omitempty"`
	Window     int     `json:"window,omitempty"`
	Minimum    int     `json:"minimum,omitempty"`
	HardBounce float64 `json:"hard_bounce,omitempty"` // fraction, e.g. 0.05
	Complaint  float64 `json:"complaint,omitempty"`   // fraction, e.g. 0.001
}

// DefaultQuietHours is the SMS window when a campaign sets none.
const DefaultQuietHours = "08:00-21:00"

// Validate checks the settings an operator gave.
func (s *Settings) Validate() error {
	if q := strings.TrimSpace(s.QuietHours); q != "" && q != "off" {
		if _, err := ParseWindow(q); err != nil {
			return Errorf(EINVALID, "quiet hours %q: %v (write e.g. 08:00-21:00, or off)", q, err)
		}
	}
	g := s.Guard
	if g.HardBounce < 0 || g.HardBounce >= 1 || g.Complaint < 0 || g.Complaint >= 1 {
		return Errorf(EINVALID, "guard limits must be shares between 0 and 100%%")
	}
	if s.SubstituteThreshold < 0 {
		return Errorf(EINVALID, "substitute-notice threshold %d is negative: give a number of people, e.g. 10, or 0 for none", s.SubstituteThreshold)
	}
	return nil
}

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
