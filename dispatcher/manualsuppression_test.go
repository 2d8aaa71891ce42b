package dispatcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/heraldhq/herald/dispatcher"
	"github.com/heraldhq/herald/store/storetest"
)

// TestManualSuppression checks adding and removing by hand, as the
// console, the API and the CLI do: one audit shape, a note measured in
// characters, and an address listed before keeps when it was first seen.
func TestManualSuppression(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st dispatcher.Store) {
		ctx := context.Background()
		t1 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
		m := dispatcher.ManualSuppression{Channel: "email", Address: " Åse@Example.NO ", Note: "flyttet  til\nutlandet", Via: "console", Actor: "web:kari", At: t1}
		sup, err := dispatcher.AddSuppression(ctx, st, m)
		if err != nil {
			t.Fatal(err)
		}
		if sup.Address != "åse@example.no" || sup.Reason != dispatcher.ReasonManual || sup.Source != "console by web:kari: flyttet til utlandet" {
			t.Errorf("added %+v", sup)
		}
		m.At, m.Reason, m.Note = t1.Add(time.Hour), "opt-out", strings.Repeat("ø", dispatcher.MaxSuppressionNote) // 200 characters, 400 bytes
		sup, err = dispatcher.AddSuppression(ctx, st, m)
		if err != nil {
			t.Fatalf("a note of %d characters: %v", dispatcher.MaxSuppressionNote, err)
		}
		if !sup.FirstSeen.Equal(t1) || sup.Reason != dispatcher.ReasonOptedOut {
			t.Errorf("added again: first seen %v, reason %s; want %v, opted_out", sup.FirstSeen, sup.Reason, t1)
		}
		m.Note += "ø"
		if _, err := dispatcher.AddSuppression(ctx, st, m); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
			t.Errorf("a note of %d characters: %v, want EINVALID", dispatcher.MaxSuppressionNote+1, err)
		}

		k, addr, err := dispatcher.RemoveSuppression(ctx, st, "email", "ÅSE@example.no", "", "cli:ola", t1)
		if err != nil || k != dispatcher.Email || addr != "åse@example.no" {
			t.Fatalf("remove = %s %s %v", k, addr, err)
		}
		if _, _, err := dispatcher.RemoveSuppression(ctx, st, "email", "åse@example.no", "", "cli:ola", t1); dispatcher.ErrorCode(err) != dispatcher.ENOTFOUND {
			t.Errorf("remove again: %v, want ENOTFOUND", err)
		}
		es, err := st.(dispatcher.UserStore).AuditLog(ctx, dispatcher.AuditQuery{})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range es {
			got = append(got, e.Action+" "+e.Subject+" "+e.Actor)
		}
		want := []string{"suppression.remove email åse@example.no cli:ola", "suppression.add email åse@example.no web:kari", "suppression.add email åse@example.no web:kari"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("audit (newest first) = %q, want %q", got, want)
		}
	})
}
