package dispatcher

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func mustZone(t testing.TB, name string) *time.Location {
	t.Helper()
	z, ok := LoadZone(name)
	if !ok {
		t.Fatalf("zone %s does not load", name)
	}
	return z
}

func TestParseWindow(t *testing.T) {
	h, m := time.Hour, time.Minute
	tests := []struct {
		in   string
		want Window
		str  string
	}{
		{"08:00-21:00", Window{8 * h, 21 * h}, "08:00-21:00"},
		{"8:00-21:00", Window{8 * h, 21 * h}, "08:00-21:00"},
		{" 08:30 – 20:45 ", Window{8*h + 30*m, 20*h + 45*m}, "08:30-20:45"},
		{"22:00-06:00", Window{22 * h, 6 * h}, "22:00-06:00"},
		{"00:00-24:00", AllDay, "00:00-24:00"},
		{"18:00-24:00", Window{18 * h, 24 * h}, "18:00-24:00"},
		{"off", AllDay, "00:00-24:00"},
		{"OFF", AllDay, "00:00-24:00"},
		{DefaultQuietHours, DefaultSMSWindow, DefaultQuietHours},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseWindow(tt.in)
			if err != nil {
				t.Fatalf("ParseWindow: %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseWindow = %+v, want %+v", got, tt.want)
			}
			if got.String() != tt.str {
				t.Errorf("String = %q, want %q", got.String(), tt.str)
			}
		})
	}
	for _, in := range []string{
		"", "08:00", "08:00-", "-21:00", "8-21", "08.00-21.00", "08:00-21:00-22:00",
		"24:00-08:00", "08:00-24:01", "25:00-26:00", "08:60-21:00", "8:5-21:00",
		"09:00-09:00", "００:00-21:00", "+8:00-21:00", "always", "08:00:00-21:00:00",
	} {
		t.Run("rejects "+in, func(t *testing.T) {
			if w, err := ParseWindow(in); ErrorCode(err) != EINVALID {
				t.Errorf("ParseWindow(%q) = %+v, %v; want EINVALID", in, w, err)
			}
		})
	}
}

func FuzzParseWindow(f *testing.F) {
	for _, s := range []string{"08:00-21:00", "22:00-06:00", "off", "00:00-24:00", "8:5-21", "24:00-24:00", "–"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		w, err := ParseWindow(s)
		if err != nil {
			if ErrorCode(err) != EINVALID {
				t.Fatalf("error %v is not EINVALID", err)
			}
			return
		}
		if err := w.Validate(); err != nil {
			t.Fatalf("ParseWindow(%q) = %+v, which does not validate: %v", s, w, err)
		}
		again, err := ParseWindow(w.String())
		if err != nil || again != w {
			t.Fatalf("round trip of %q: %+v → %q → %+v, %v", s, w, w.String(), again, err)
		}
	})
}

func TestWindowNext(t *testing.T) {
	oslo := mustZone(t, "Europe/Oslo")
	utc := func(s string) time.Time {
		t.Helper()
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	day := DefaultSMSWindow
	night := Window{22 * time.Hour, 6 * time.Hour}
	gap := Window{2*time.Hour + 30*time.Minute, 5 * time.Hour}
	tests := []struct {
		name string
		w    Window
		loc  *time.Location
		now  string // UTC
		want string // UTC; "" means now
	}{
		// Oslo is UTC+1 in winter (CET) and UTC+2 in summer (CEST).
		{"before opening", day, oslo, "2026-03-02T06:59:00Z", "2026-03-02T07:00:00Z"},
		{"at opening", day, oslo, "2026-03-02T07:00:00Z", ""},
		{"just before closing", day, oslo, "2026-03-02T19:59:59.999Z", ""},
		{"at closing", day, oslo, "2026-03-02T20:00:00Z", "2026-03-03T07:00:00Z"},
		{"late evening", day, oslo, "2026-03-02T22:00:00Z", "2026-03-03T07:00:00Z"},
		{"summer morning", day, oslo, "2026-07-01T04:00:00Z", "2026-07-01T06:00:00Z"},
		// 29 March 2026: 02:00 CET becomes 03:00 CEST at 01:00Z.
		{"spring forward: night before", day, oslo, "2026-03-28T21:00:00Z", "2026-03-29T06:00:00Z"},
		{"spring forward: after midnight", day, oslo, "2026-03-28T23:30:00Z", "2026-03-29T06:00:00Z"},
		{"spring forward: opening in the gap opens at the jump", gap, oslo, "2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z"},
		// 25 October 2026: 03:00 CEST becomes 02:00 CET at 01:00Z.
		{"fall back: after midnight", day, oslo, "2026-10-24T22:30:00Z", "2026-10-25T07:00:00Z"},
		{"fall back: opening in the doubled hour is its first time", gap, oslo, "2026-10-24T23:00:00Z", "2026-10-25T00:30:00Z"},
		{"fall back: the clock goes back into the window", Window{22 * time.Hour, 2*time.Hour + 30*time.Minute}, oslo, "2026-10-25T00:45:00Z", "2026-10-25T01:00:00Z"},
		{"across midnight: late", night, oslo, "2026-03-02T22:00:00Z", ""},
		{"across midnight: early", night, oslo, "2026-03-02T04:59:00Z", ""},
		{"across midnight: at its end", night, oslo, "2026-03-02T05:00:00Z", "2026-03-02T21:00:00Z"},
		{"across midnight: noon", night, oslo, "2026-03-02T11:00:00Z", "2026-03-02T21:00:00Z"},
		{"across midnight: on the spring-forward night", night, oslo, "2026-03-29T03:30:00Z", ""},
		{"across midnight: end on the spring-forward morning", night, oslo, "2026-03-29T04:00:00Z", "2026-03-29T20:00:00Z"},
		{"all day", AllDay, oslo, "2026-03-02T03:00:00Z", ""},
		{"zero window is open", Window{}, oslo, "2026-03-02T03:00:00Z", ""},
		{"nil zone is UTC", day, nil, "2026-03-02T07:30:00Z", "2026-03-02T08:00:00Z"},
		{"New York", day, mustZone(t, "America/New_York"), "2026-03-02T12:30:00Z", "2026-03-02T13:00:00Z"},
		{"Kathmandu is UTC+5:45", day, mustZone(t, "Asia/Kathmandu"), "2026-03-02T00:00:00Z", "2026-03-02T02:15:00Z"},
		// Lord Howe Island moves its clocks by half an hour: UTC+11 in
		// summer until 5 April 2026, 02:00 (15:00Z on the 4th), then +10:30.
		{"Lord Howe half-hour change", gap, mustZone(t, "Australia/Lord_Howe"), "2026-04-04T14:00:00Z", "2026-04-04T16:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := utc(tt.now)
			want := now
			if tt.want != "" {
				want = utc(tt.want)
			}
			got := tt.w.Next(now, tt.loc)
			if !got.Equal(want) {
				t.Errorf("Next(%s) = %s (%s), want %s", now, got.UTC().Format(time.RFC3339), got, want.UTC().Format(time.RFC3339))
			}
			if tt.want == "" && got != now {
				t.Errorf("Next inside the window = %v, want now itself", got)
			}
			if inside := tt.w.Contains(now, tt.loc); inside != (tt.want == "") {
				t.Errorf("Contains(%s) = %v", now, inside)
			}
			if !tt.w.Contains(got, tt.loc) {
				t.Errorf("Next returned %s, which is outside the window", got)
			}
		})
	}
}

// FuzzWindowNext checks Next's promise on any window, instant and a set of
// awkward zones: the answer is in the window, not before now, and (unless
// it is now) the instant before it is outside.
func FuzzWindowNext(f *testing.F) {
	zones := []string{"UTC", "Europe/Oslo", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu", "Pacific/Apia", "Pacific/Chatham", "America/Santiago", "Africa/Casablanca", "Europe/Dublin"}
	f.Add(uint16(8*60), uint16(21*60), int64(1774746000), uint8(1))
	f.Add(uint16(150), uint16(300), int64(1774744200), uint8(1))
	f.Add(uint16(22*60), uint16(6*60), int64(1793055600), uint8(1))
	f.Add(uint16(0), uint16(0), int64(1325152800), uint8(5)) // Apia skipped 30 December 2011
	f.Fuzz(func(t *testing.T, startMin, endMin uint16, unix int64, zone uint8) {
		w := Window{Start: time.Duration(startMin%1440) * time.Minute, End: time.Duration(endMin%1441) * time.Minute}
		if w.Validate() != nil {
			return
		}
		loc := mustZone(t, zones[int(zone)%len(zones)])
		now := time.Unix(unix%(130*365*86400), 0).UTC() // 1970–2100
		got := w.Next(now, loc)
		if got.Before(now) {
			t.Fatalf("%s Next(%s) = %s, before now", w, now, got)
		}
		if !w.Contains(got, loc) {
			t.Fatalf("%s in %s: Next(%s) = %s is outside", w, loc, now, got)
		}
		if got.Sub(now) > 49*time.Hour {
			t.Fatalf("%s in %s: Next(%s) = %s, more than two days on", w, loc, now, got)
		}
		if !got.Equal(now) && w.Contains(got.Add(-time.Nanosecond), loc) {
			t.Fatalf("%s in %s: Next(%s) = %s, but the instant before is inside", w, loc, now, got)
		}
	})
}

func TestContactZone(t *testing.T) {
	tests := []struct {
		name      string
		c         *Contact
		want      string
		wantZones []string // when several; nil means just want
	}{
		{"Norwegian mobile", &Contact{Phone: "+4791234567"}, "Europe/Oslo", nil},
		{"Dutch mobile", &Contact{Phone: "+31612345678"}, "Europe/Amsterdam", nil},
		{"British mobile", &Contact{Phone: "+447700900123", Country: "GB"}, "Europe/London", []string{"Europe/Guernsey", "Europe/Isle_of_Man", "Europe/London"}},
		{"US area code 212", &Contact{Phone: "+12125551234", Country: "US"}, "America/New_York", nil},
		{"US area code 310", &Contact{Phone: "+13105551234", Country: "US"}, "America/Los_Angeles", nil},
		{"Australian mobile", &Contact{Phone: "+61491570156"}, "Australia/Sydney", nil},
		{"Australian +61 8: Perth or Adelaide", &Contact{Phone: "+61855501234"}, "Australia/Perth", []string{"Australia/Adelaide", "Australia/Perth"}},
		{"attribute wins over phone", &Contact{Phone: "+4791234567", Attrs: map[string]string{"TimeZone": " America/Chicago "}}, "America/Chicago", nil},
		{"timezone column wins over tz", &Contact{Attrs: map[string]string{"tz": "Asia/Tokyo", "Timezone": "Europe/Oslo"}}, "Europe/Oslo", nil},
		{"bad attribute falls through to phone", &Contact{Phone: "+4791234567", Attrs: map[string]string{"tz": "Mars/Olympus_Mons"}}, "Europe/Oslo", nil},
		{"Local is not a recipient's zone", &Contact{Phone: "+31612345678", Attrs: map[string]string{"tz": "Local"}}, "Europe/Amsterdam", nil},
		{"country only", &Contact{Country: "NO"}, "Europe/Oslo", []string{"Arctic/Longyearbyen", "Europe/Oslo"}},
		{"lower-case country", &Contact{Country: "nl"}, "Europe/Amsterdam", nil},
		{"unknown country", &Contact{Country: "XX"}, "UTC", nil},
		{"nothing known", &Contact{Email: "a@example.com"}, "UTC", nil},
		{"nil contact", nil, "UTC", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ContactZone(tt.c).String(); got != tt.want {
				t.Errorf("ContactZone = %s, want %s", got, tt.want)
			}
			want := tt.wantZones
			if want == nil {
				want = []string{tt.want}
			}
			var got []string
			for _, z := range ContactZones(tt.c) {
				got = append(got, z.String())
			}
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Errorf("ContactZones = %v, want %v", got, want)
			}
		})
	}
}

func TestContactZonesOfACountrySpanningZones(t *testing.T) {
	zs := ContactZones(&Contact{Country: "US"})
	if len(zs) < 10 {
		t.Fatalf("ContactZones(US) = %v, want North America's many zones", zs)
	}
	// The pick does not depend on the order of the zones.
	want := MiddleZone(zs)
	rev := slices.Clone(zs)
	slices.Reverse(rev)
	if got := MiddleZone(rev); got != want {
		t.Errorf("MiddleZone depends on order: %s and %s", want, got)
	}
	t.Logf("US by country alone: %d zones, middle %s", len(zs), want)
}

func TestMiddleZone(t *testing.T) {
	z := func(n string) *time.Location { return mustZone(t, n) }
	tests := []struct {
		zones []*time.Location
		want  string
	}{
		{nil, "UTC"},
		{[]*time.Location{nil}, "UTC"},
		{[]*time.Location{z("Europe/Oslo")}, "Europe/Oslo"},
		{[]*time.Location{z("Europe/Oslo"), z("Arctic/Longyearbyen")}, "Europe/Oslo"},
		{[]*time.Location{z("America/Los_Angeles"), z("America/New_York"), z("America/Chicago")}, "America/Chicago"},
		{[]*time.Location{z("America/New_York"), z("Asia/Tokyo")}, "America/New_York"},
		{[]*time.Location{z("Asia/Tokyo"), z("Europe/London"), z("Europe/Guernsey"), z("America/New_York")}, "Europe/London"},
	}
	for _, tt := range tests {
		if got := MiddleZone(tt.zones).String(); got != tt.want {
			t.Errorf("MiddleZone(%v) = %s, want %s", tt.zones, got, tt.want)
		}
	}
}

func TestWindowNextAll(t *testing.T) {
	z := func(n string) *time.Location { return mustZone(t, n) }
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	perthAdelaide := []*time.Location{z("Australia/Perth"), z("Australia/Adelaide")}
	nyLA := []*time.Location{z("America/New_York"), z("America/Los_Angeles")}
	tests := []struct {
		name  string
		w     Window
		zones []*time.Location
		now   string
		want  string // "" means now
	}{
		// July: Perth UTC+8, Adelaide UTC+9:30. Both open 00:00Z–11:30Z.
		{"Perth still asleep", DefaultSMSWindow, perthAdelaide, "2026-07-15T23:00:00Z", "2026-07-16T00:00:00Z"},
		{"open in both", DefaultSMSWindow, perthAdelaide, "2026-07-16T05:00:00Z", ""},
		{"Adelaide already closed", DefaultSMSWindow, perthAdelaide, "2026-07-16T11:45:00Z", "2026-07-17T00:00:00Z"},
		// July: New York UTC-4, Los Angeles UTC-7. Both open 15:00Z–01:00Z.
		{"Los Angeles still asleep", DefaultSMSWindow, nyLA, "2026-07-15T12:00:00Z", "2026-07-15T15:00:00Z"},
		{"New York closed", DefaultSMSWindow, nyLA, "2026-07-16T01:30:00Z", "2026-07-16T15:00:00Z"},
		{"one zone", DefaultSMSWindow, nyLA[:1], "2026-07-15T12:00:00Z", ""},
		{"no zones is UTC", DefaultSMSWindow, nil, "2026-07-15T05:00:00Z", "2026-07-15T08:00:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := at(tt.now)
			want := now
			if tt.want != "" {
				want = at(tt.want)
			}
			got := tt.w.NextAll(now, tt.zones)
			if !got.Equal(want) {
				t.Errorf("NextAll(%s) = %s, want %s", tt.now, got.UTC().Format(time.RFC3339), tt.want)
			}
			for _, zone := range tt.zones {
				if !tt.w.Contains(got, zone) {
					t.Errorf("NextAll = %s, outside the window in %s", got, zone)
				}
			}
		})
	}

	t.Run("no common window falls back to the middle zone", func(t *testing.T) {
		w := Window{9 * time.Hour, 17 * time.Hour}
		zones := []*time.Location{z("Asia/Tokyo"), z("America/New_York")}
		now := at("2026-01-15T10:00:00Z")
		got := w.NextAll(now, zones)
		if want := w.Next(now, z("America/New_York")); !got.Equal(want) {
			t.Errorf("NextAll = %s, want New York's next opening %s", got, want)
		}
	})
}

func TestLoadZoneCaches(t *testing.T) {
	a, ok := LoadZone("Europe/Oslo")
	b, ok2 := LoadZone(" Europe/Oslo ")
	if !ok || !ok2 || a != b {
		t.Errorf("LoadZone twice = %p, %p; want the same cached zone", a, b)
	}
	for _, bad := range []string{"", "Local", "Europe/Nowhere", "../../etc/passwd", strings.Repeat("x", 300)} {
		if z, ok := LoadZone(bad); ok || z != nil {
			t.Errorf("LoadZone(%q) = %v, want refused", bad, z)
		}
	}
}
