package dispatcher

import (
	"fmt"
	"sort"
)

// Substitute notice. Breach rules ask for notice by other means when too
// many people cannot be told directly: under the US HIPAA rule, when the
// contact information of 10 or more people is insufficient or out of date,
// a notice on the organisation's website or in major print or broadcast
// media, with a toll-free number (45 CFR 164.404(d)(2)). The operator sets
// the campaign's threshold (Settings.SubstituteThreshold); the unreachable
// report counts the people no channel reached, where they live, and says
// whether the threshold is reached.

// AreaCount is a number of contacts in one country and region.
type AreaCount struct {
	Country string `json:"country"`          // ISO 3166 code; "" when not known
	Region  string `json:"region,omitempty"` // state or province from the postal address; "" when none
	N       int64  `json:"n"`
}

// SubstituteNotice is the headline of the unreachable report.
type SubstituteNotice struct {
	// Unreachable counts the people no channel reached (Report.Unreachable).
	Unreachable int64 `json:"unreachable"`
	// InProgress counts those still being tried: the number may grow.
	InProgress int64 `json:"in_progress"`
	// Threshold is the campaign's substitute-notice threshold; 0 when none
	// is set.
	Threshold int `json:"threshold"`
	// Due is whether Unreachable reaches a set Threshold.
	Due bool `json:"due"`
	// ByCountry and ByArea count the unreachable by country, and by
	// country and region, largest first.
	ByCountry []AreaCount `json:"by_country"`
	ByArea    []AreaCount `json:"by_area"`
	// Headline says all of it in one sentence for the operator.
	Headline string `json:"headline"`
}

// NewSubstituteNotice builds the headline from a campaign's report, its
// unreachable contacts counted by area (Store.UnreachableByArea) and the
// threshold in force (the campaign's, or an operator's override).
func NewSubstituteNotice(r *Report, byArea []AreaCount, threshold int) *SubstituteNotice {
	n := &SubstituteNotice{Unreachable: r.Unreachable, InProgress: r.InProgress, Threshold: max(threshold, 0),
		ByArea: append([]AreaCount{}, byArea...), ByCountry: []AreaCount{}}
	n.Due = n.Threshold > 0 && n.Unreachable >= int64(n.Threshold)
	countries := map[string]int64{}
	for _, a := range byArea {
		countries[a.Country] += a.N
	}
	for c, k := range countries {
		n.ByCountry = append(n.ByCountry, AreaCount{Country: c, N: k})
	}
	sortAreas(n.ByCountry)
	sortAreas(n.ByArea)
	n.Headline = substituteHeadline(n)
	return n
}

func sortAreas(as []AreaCount) {
	sort.Slice(as, func(i, j int) bool {
		if as[i].N != as[j].N {
			return as[i].N > as[j].N
		}
		if as[i].Country != as[j].Country {
			return as[i].Country < as[j].Country
		}
		return as[i].Region < as[j].Region
	})
}

func substituteHeadline(n *SubstituteNotice) string {
	var h string
	switch n.Unreachable {
	case 0:
		h = "Nobody is unreachable: every contact was reached directly"
		if n.InProgress > 0 {
			h = "Nobody is unreachable so far"
		}
	case 1:
		h = "1 person could not be reached directly"
	default:
		h = fmt.Sprintf("%d people could not be reached directly", n.Unreachable)
	}
	switch {
	case n.Unreachable == 0:
	case n.Threshold == 0:
		h += "; no substitute-notice threshold is set for this campaign (set one with --substitute-threshold, e.g. 10 under the US HIPAA rule)"
	case n.Unreachable > int64(n.Threshold):
		h += fmt.Sprintf("; that is above the substitute-notice threshold of %d set for this campaign (--substitute-threshold): publish a substitute notice (website, press, hotline)", n.Threshold)
	case n.Due:
		h += fmt.Sprintf("; that reaches the substitute-notice threshold of %d set for this campaign (--substitute-threshold): publish a substitute notice (website, press, hotline)", n.Threshold)
	default:
		h += fmt.Sprintf("; that is below the substitute-notice threshold of %d set for this campaign (--substitute-threshold): reach them by other means (telephone, another address)", n.Threshold)
	}
	switch {
	case n.InProgress == 1:
		h += " (1 contact is still in progress, so the count may grow)"
	case n.InProgress > 1:
		h += fmt.Sprintf(" (%d contacts are still in progress, so the count may grow)", n.InProgress)
	}
	return h + "."
}
