package dispatcher

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	// The zone database is built in so that quiet hours are right on a
	// host or container without /usr/share/zoneinfo, where every zone
	// would otherwise silently become UTC.
	_ "time/tzdata"

	"github.com/nyaruka/phonenumbers"
)

// Window is a daily sending window in the recipient's local time: SMS is
// sent only inside it, because a text message can wake people up. US rules
// on telemarketing (TCPA) and debt collection (FDCPA) draw the line at
// 08:00–21:00 where the recipient is, and a breach notice is better read in
// the day too.
//
// Start and End are wall-clock times since local midnight: 8h is 08:00 on
// the recipient's clock whatever the date, also on the days clocks change.
// The window contains Start and not End. End may be 24h (midnight at the
// end of the day); a Start later than End crosses midnight (22:00–06:00).
// A Window with Start == End, the zero Window among them, is open all day.
type Window struct {
	Start, End time.Duration
}

// DefaultSMSWindow is herald's SMS window when a campaign sets none:
// 08:00–21:00, as DefaultQuietHours.
var DefaultSMSWindow = Window{Start: 8 * time.Hour, End: 21 * time.Hour}

// AllDay is the window that is always open, what ParseWindow makes of "off".
var AllDay = Window{Start: 0, End: 24 * time.Hour}

// ParseWindow parses a window as an operator writes it: "08:00-21:00",
// "8:00–21:00", "22:00-06:00" (across midnight), "00:00-24:00" or "off"
// (always open). Hours are 0–23 (24 only for an end of 24:00), minutes two
// digits. An empty window such as "09:00-09:00" is refused: write "off" for
// no restriction.
func ParseWindow(s string) (Window, error) {
	in := strings.TrimSpace(s)
	if strings.EqualFold(in, "off") {
		return AllDay, nil
	}
	in = strings.ReplaceAll(in, "–", "-") // the en dash that word processors make
	from, to, ok := strings.Cut(in, "-")
	if !ok {
		return Window{}, Errorf(EINVALID, "sending window %q: write it as HH:MM-HH:MM, e.g. 08:00-21:00, or off", s)
	}
	start, err := parseClock(strings.TrimSpace(from), false)
	if err != nil {
		return Window{}, Errorf(EINVALID, "sending window %q: start %s; write it as HH:MM-HH:MM, e.g. 08:00-21:00", s, err)
	}
	end, err := parseClock(strings.TrimSpace(to), true)
	if err != nil {
		return Window{}, Errorf(EINVALID, "sending window %q: end %s; write it as HH:MM-HH:MM, e.g. 08:00-21:00", s, err)
	}
	w := Window{Start: start, End: end}
	if err := w.Validate(); err != nil {
		return Window{}, Errorf(EINVALID, "sending window %q: %s", s, err)
	}
	return w, nil
}

// parseClock parses H:MM or HH:MM; 24:00 only when end is set.
func parseClock(s string, end bool) (time.Duration, error) {
	hh, mm, ok := strings.Cut(s, ":")
	if !ok || len(hh) < 1 || len(hh) > 2 || len(mm) != 2 || !allDigits(hh) || !allDigits(mm) {
		return 0, fmt.Errorf("%q is not HH:MM", s)
	}
	h, _ := strconv.Atoi(hh)
	m, _ := strconv.Atoi(mm)
	switch {
	case m > 59:
		return 0, fmt.Errorf("%q has minute %d", s, m)
	case h == 24 && m == 0 && end:
	case h > 23:
		return 0, fmt.Errorf("%q has hour %d", s, h)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

func allDigits(s string) bool {
	for _, c := range []byte(s) {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Validate reports whether ParseWindow could have made w: Start in [0,
// 24h), End in (0, 24h] and the two different.
func (w Window) Validate() error {
	switch {
	case w.Start < 0 || w.Start >= 24*time.Hour:
		return fmt.Errorf("start %s is not within the day", w.Start)
	case w.End <= 0 || w.End > 24*time.Hour:
		return fmt.Errorf("end %s is not within the day", w.End)
	case w.Start == w.End:
		return fmt.Errorf("start and end are both %s: the window is empty; write off for no restriction", clock(w.Start))
	}
	return nil
}

// String formats w as ParseWindow reads it, e.g. "08:00-21:00".
func (w Window) String() string { return clock(w.Start) + "-" + clock(w.End) }

func clock(d time.Duration) string {
	return fmt.Sprintf("%02d:%02d", int(d/time.Hour), int(d%time.Hour/time.Minute))
}

// open reports whether the wall-clock time tod (since midnight) is inside.
func (w Window) open(tod time.Duration) bool {
	switch {
	case w.Start == w.End:
		return true
	case w.Start < w.End:
		return w.Start <= tod && tod < w.End
	}
	return tod >= w.Start || tod < w.End
}

// timeOfDay is t's wall-clock time since midnight in t's location.
func timeOfDay(t time.Time) time.Duration {
	h, m, s := t.Clock()
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute + time.Duration(s)*time.Second + time.Duration(t.Nanosecond())
}

// Contains reports whether t is inside the window on the clock of loc (nil
// is UTC).
func (w Window) Contains(t time.Time, loc *time.Location) bool {
	if loc == nil {
		loc = time.UTC
	}
	return w.open(timeOfDay(t.In(loc)))
}

// Next returns now when now is inside the window on the clock of loc (nil
// is UTC), else the first instant after now when it is, in loc. The
// difference is how long an SMS job waits.
//
// It follows the recipient's wall clock across daylight-saving changes:
// on the day Oslo's clocks go forward 08:00 is 7 hours after midnight, not
// 8, and a window that opens at 02:30 that night opens at 03:00, when the
// clock jumps past it; when clocks go back, an hour that happens twice is
// inside the window both times.
func (w Window) Next(now time.Time, loc *time.Location) time.Time {
	if loc == nil {
		loc = time.UTC
	}
	t := now.In(loc)
	if w.open(timeOfDay(t)) {
		return now
	}
	// Within one zone period (between two changes of UTC offset) the wall
	// clock runs with real time, so the opening is Start minus the time
	// of day away, unless the offset changes first: then look again at
	// the instant of the change, where the clock jumps.
	for range 16 {
		wait := w.Start - timeOfDay(t)
		if wait <= 0 {
			wait += 24 * time.Hour
		}
		open := t.Add(wait)
		_, end := t.ZoneBounds()
		if end.IsZero() || open.Before(end) {
			return open
		}
		t = end
		if w.open(timeOfDay(t)) {
			return t
		}
	}
	// Sixteen offset changes within a day do not happen in the zone
	// database; answer something safe rather than loop.
	return t.Add(24 * time.Hour)
}

// nextAllHorizon bounds how far NextAll looks for an instant inside the
// window in every zone before it gives up on the intersection.
const nextAllHorizon = 48 * time.Hour

// NextAll is Next for a recipient who may be in any of several zones (a
// phone number of a country that spans several): the first instant from
// now that is inside the window on every one of their clocks, which is
// what a law about the recipient's local time asks for. When the zones are
// so far apart that no such instant comes within 48 hours (a 09:00–17:00
// window in Tokyo and New York), it falls back to Next in the middle zone
// (see MiddleZone). No zones means UTC.
func (w Window) NextAll(now time.Time, zones []*time.Location) time.Time {
	switch len(zones) {
	case 0:
		return w.Next(now, time.UTC)
	case 1:
		return w.Next(now, zones[0])
	}
	t := now
	// Every move goes to an opening in one zone, and no instant inside
	// all of them is skipped: each move is to the first instant inside
	// one of them.
	for range 4*len(zones) + 8 {
		moved := false
		for _, z := range zones {
			if n := w.Next(t, z); n.After(t) {
				t, moved = n, true
			}
		}
		if !moved {
			if t.Equal(now) {
				return now
			}
			return t
		}
		if t.Sub(now) > nextAllHorizon {
			break
		}
	}
	return w.Next(now, MiddleZone(zones))
}

// Where a contact is.

// timezoneAttrs are the import columns read as the contact's zone, in
// order of preference, compared without regard to case.
var timezoneAttrs = []string{"timezone", "time_zone", "time zone", "tz"}

// ContactZones returns the zones a contact may be in, for quiet hours,
// from the first source that names any:
//
//  1. an import column timezone, time_zone, "time zone" or tz (any case)
//     holding an IANA name such as Europe/Oslo: the organisation knows;
//  2. the phone number's prefix (libphonenumber's zone map): one zone for
//     most numbers (a Norwegian number, a US area code), several for some
//     (an Australian +61 8 number is Perth or Adelaide);
//  3. the Country column's calling code: every zone of the numbering
//     plan, so +1 for US stands for all of North America and the
//     Caribbean;
//  4. UTC.
//
// A name that does not load (a typing error, "Local") is skipped.
// Window.NextAll honours all the zones returned; ContactZone picks one.
func ContactZones(c *Contact) []*time.Location {
	if c == nil {
		return []*time.Location{time.UTC}
	}
	if z := attrZone(c.Attrs); z != nil {
		return []*time.Location{z}
	}
	if c.Phone != "" {
		if zs := prefixZones(c.Phone); len(zs) > 0 {
			return zs
		}
	}
	if c.Country != "" {
		if cc := phonenumbers.GetCountryCodeForRegion(strings.ToUpper(strings.TrimSpace(c.Country))); cc > 0 {
			if zs := prefixZones(strconv.Itoa(cc)); len(zs) > 0 {
				return zs
			}
		}
	}
	return []*time.Location{time.UTC}
}

// ContactZone returns the one zone used for a contact's quiet hours when
// a single clock is wanted: the contact's zone when ContactZones finds
// one, else the middle one of those it finds (see MiddleZone). Prefer
// Window.NextAll(now, ContactZones(c)), which keeps the window on every
// clock the contact may have.
func ContactZone(c *Contact) *time.Location { return MiddleZone(ContactZones(c)) }

// attrZone returns the zone named in the contact's attributes, or nil.
func attrZone(attrs map[string]string) *time.Location {
	if len(attrs) == 0 {
		return nil
	}
	best, bestRank := "", len(timezoneAttrs)
	for k, v := range attrs {
		rank := slices.Index(timezoneAttrs, strings.ToLower(strings.TrimSpace(k)))
		if rank >= 0 && rank < bestRank && strings.TrimSpace(v) != "" {
			best, bestRank = v, rank
		}
	}
	if best == "" {
		return nil
	}
	z, _ := LoadZone(best)
	return z
}

// prefixZones returns the loadable zones libphonenumber gives for the
// digits of an E.164 number or calling code.
func prefixZones(number string) []*time.Location {
	names, err := phonenumbers.GetTimezonesForPrefix(number)
	if err != nil {
		return nil
	}
	var out []*time.Location
	for _, n := range names {
		if n == phonenumbers.UNKNOWN_TIMEZONE {
			continue
		}
		if z, ok := LoadZone(n); ok {
			out = append(out, z)
		}
	}
	return out
}

// MiddleZone picks one zone of several deterministically, whatever their
// order: group them by standard UTC offset (the smaller of the offsets of
// mid-January and mid-July 2025, so the choice does not change with the
// date), take the middle group (the western one of two middles), and in
// it the zone whose name sorts last. Its clock is at most half the spread
// away from any of the others, and the rule picks Europe/London over
// Europe/Guernsey and Europe/Oslo over Arctic/Longyearbyen. Nil or no
// zones give UTC.
func MiddleZone(zones []*time.Location) *time.Location {
	switch len(zones) {
	case 0:
		return time.UTC
	case 1:
		if zones[0] == nil {
			return time.UTC
		}
		return zones[0]
	}
	type zoneOffset struct {
		z   *time.Location
		off int
	}
	jan := time.Date(2025, time.January, 15, 12, 0, 0, 0, time.UTC)
	jul := time.Date(2025, time.July, 15, 12, 0, 0, 0, time.UTC)
	var zs []zoneOffset
	for _, z := range zones {
		if z == nil {
			continue
		}
		_, a := jan.In(z).Zone()
		_, b := jul.In(z).Zone()
		zs = append(zs, zoneOffset{z, min(a, b)})
	}
	if len(zs) == 0 {
		return time.UTC
	}
	slices.SortFunc(zs, func(a, b zoneOffset) int {
		if c := cmp.Compare(a.off, b.off); c != 0 {
			return c
		}
		return cmp.Compare(b.z.String(), a.z.String()) // last name first
	})
	var groups []int // index in zs of each offset group's first zone
	for i := range zs {
		if i == 0 || zs[i].off != zs[i-1].off {
			groups = append(groups, i)
		}
	}
	return zs[groups[(len(groups)-1)/2]].z
}

// The zone cache. time.LoadLocation reads and parses a file each call;
// quiet hours ask for a zone per SMS.
var (
	zoneMu    sync.Mutex
	zoneCache = map[string]*time.Location{}
	zoneBad   = map[string]bool{}
)

// maxBadZones caps how many unknown names are remembered, so an import
// full of distinct misspellings cannot grow the cache without bound.
const maxBadZones = 1024

// LoadZone returns the zone of an IANA name such as Europe/Oslo, loading
// each name once. "Local" and "" are refused: the server's own zone says
// nothing about a recipient.
func LoadZone(name string) (*time.Location, bool) {
	name = strings.TrimSpace(name)
	if name == "" || name == "Local" {
		return nil, false
	}
	zoneMu.Lock()
	defer zoneMu.Unlock()
	if z, ok := zoneCache[name]; ok {
		return z, true
	}
	if zoneBad[name] {
		return nil, false
	}
	z, err := time.LoadLocation(name)
	if err != nil {
		if len(zoneBad) < maxBadZones {
			zoneBad[name] = true
		}
		return nil, false
	}
	zoneCache[name] = z
	return z, true
}
