package file_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/heraldhq/herald/channels/file"
	"github.com/heraldhq/herald/dispatcher"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

func notice() *dispatcher.Message {
	return &dispatcher.Message{
		DeliveryID: 42,
		CampaignID: 7,
		Channel:    dispatcher.File,
		To:         "ola.nordmann@example.no",
		ToName:     "Ola Nordmann",
		Sender:     dispatcher.Sender{FromName: "Eksempel AS", FromEmail: "personvern@example.no", ReplyTo: "svar@example.no"},
		Subject:    "Viktig: dine opplysninger\r\nBcc: forged@example.com",
		Text:       "Hei Ola,\n\nvi må dessverre fortelle deg at ...\n",
		HTML:       "<p>Hei Ola,</p>\n<p>vi må dessverre fortelle deg at ...</p>",
		Locale:     "nb",
	}
}

func newChannel(t *testing.T) (*file.Channel, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "dry-run")
	c, err := file.New(dir)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c, dir
}

func TestSendWritesReadableNotice(t *testing.T) {
	c, dir := newChannel(t)
	if c.Kind() != dispatcher.File {
		t.Errorf("Kind = %q", c.Kind())
	}
	rcpt, err := c.Send(t.Context(), notice())
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	if rcpt.ProviderID != "campaign-7/42.txt" || rcpt.ProviderID != file.RelPath(7, 42) {
		t.Errorf("ProviderID %q, want campaign-7/42.txt", rcpt.ProviderID)
	}
	path := filepath.Join(dir, "campaign-7", "42.txt")
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"To:          Ola Nordmann <ola.nordmann@example.no>\n",
		"Subject:     Viktig: dine opplysninger Bcc: forged@example.com\n",
		"vi må dessverre fortelle deg at ...\n",
		"----- html -----\n<p>Hei Ola,</p>",
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("notice lacks %q:\n%s", want, got)
		}
	}
	if bytes.Contains(got, []byte("\nBcc:")) {
		t.Error("a line break in the subject forged a header line")
	}
	golden(t, "notice.golden", got)

	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm&0o007 != 0 {
		t.Errorf("notice is readable by others: %v", perm)
	}
}

func TestTextOnlyNoticeHasNoHTMLSection(t *testing.T) {
	m := notice()
	m.HTML, m.Subject = "", ""
	got := file.Render(m)
	if bytes.Contains(got, []byte("----- html -----")) || bytes.Contains(got, []byte("Subject:")) {
		t.Errorf("text-only notice:\n%s", got)
	}
	if !bytes.Contains(got, []byte("----- text -----\nHei Ola,")) {
		t.Errorf("text missing:\n%s", got)
	}
}

// golden compares got with testdata/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("notice differs from %s (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestResendOverwritesAtomically(t *testing.T) {
	c, dir := newChannel(t)
	first, second := notice(), notice()
	second.Text = strings.Repeat("andre versjon\n", 5000) // large enough to be written in pieces
	renderings := map[string]bool{string(file.Render(first)): true, string(file.Render(second)): true}
	if _, err := c.Send(t.Context(), first); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.FromSlash(file.RelPath(7, 42)))

	// Writers alternate the two versions while a reader checks that every
	// read sees one of them whole.
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 100)
	for w := range 4 {
		wg.Go(func() {
			for i := range 50 {
				m := first
				if (i+w)%2 == 0 {
					m = second
				}
				if _, err := c.Send(context.Background(), m); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var reads int
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			b, err := os.ReadFile(path)
			if err != nil {
				errs <- err
				return
			}
			reads++
			if !renderings[string(b)] {
				errs <- errors.New("read a partial or mixed notice")
				return
			}
		}
	}()
	wg.Wait()
	close(stop)
	<-readerDone
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads == 0 {
		t.Error("the reader never read the file")
	}

	if _, err := c.Send(t.Context(), second); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(file.Render(second)) {
		t.Error("the last send did not replace the file")
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "42.txt" {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("campaign folder holds %v, want only 42.txt (temporary files left behind?)", names)
	}
}

func TestSendRefusesWhatItCannotName(t *testing.T) {
	c, _ := newChannel(t)
	for name, m := range map[string]*dispatcher.Message{
		"nil":         nil,
		"no delivery": {CampaignID: 7, Text: "x"},
		"no campaign": {DeliveryID: 42, Text: "x"},
	} {
		_, err := c.Send(t.Context(), m)
		if dispatcher.ClassOf(err) != dispatcher.Permanent {
			t.Errorf("%s: %v, want a permanent SendError", name, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := c.Send(ctx, notice()); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestNew(t *testing.T) {
	if _, err := file.New(" "); dispatcher.ErrorCode(err) != dispatcher.EINVALID {
		t.Errorf("New(blank) = %v, want EINVALID", err)
	}
	blocker := filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(blocker, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := file.New(filepath.Join(blocker, "sub")); err == nil {
		t.Error("New under a regular file succeeded")
	}
	c, dir := newChannel(t)
	if c.Dir() != dir {
		t.Errorf("Dir = %s, want %s", c.Dir(), dir)
	}
	if info, err := os.Stat(dir); err != nil || !info.IsDir() {
		t.Errorf("New did not create %s: %v", dir, err)
	}
}
