package console

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var (
	nextLink = regexp.MustCompile(`<a href="([^"]*)" rel="next"`)
	rowKey   = regexp.MustCompile(`<tr data-(?:run|message)="(\d+)"|<tr><td><a href="/contacts/([^"]+)"`)
)

// listPage reads a list page: the keys of its rows (run and message ids,
// contacts' paths) and the link to the next page ("" when none).
func (f *fixture) listPage(path string) (rows []string, next string) {
	f.t.Helper()
	status, body, _ := f.do("GET", path, "", "")
	if status != http.StatusOK {
		f.t.Fatalf("GET %s: %d %.300s", path, status, body)
	}
	for _, m := range rowKey.FindAllStringSubmatch(body, -1) {
		rows = append(rows, m[1]+m[2])
	}
	if m := nextLink.FindStringSubmatch(body); m != nil {
		next = html.UnescapeString(m[1])
	}
	return rows, next
}

// TestConsolePaging: "Older" and "More" lead to the next rows of
// /runs, /messages and /contacts, keeping the filters, until every row
// was shown once.
func TestConsolePaging(t *testing.T) {
	f := newFixture(t, "")
	ctx := context.Background()
	const followers = pageSize + 5 // each: a contact, a run (hello), two messages
	for i := range followers {
		if err := f.sb.Follow(ctx, fmt.Sprintf("p%03d", i), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.sb.Engine().Sync(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		first   string
		keep    string // a filter the links must keep
		total   int
		pages   int
		desc    bool // ids newest first
		link    string
		wantRow string
	}{
		{"/runs", "", followers, 2, true, "Older", ""},
		{"/runs?flow=hello&status=waiting_reply", "flow=hello", followers, 2, true, "Older", ""},
		{"/messages", "", 2 * followers, 3, true, "Older", ""},
		{"/messages?status=sent&contact=", "status=sent", 2 * followers, 3, true, "Older", ""},
		{"/contacts", "", followers, 2, false, "More", "sandbox/p054"},
		{"/contacts?account=sandbox", "account=sandbox", followers, 2, false, "More", "sandbox/p054"},
	} {
		var all []string
		path, pages := c.first, 0
		for path != "" {
			pages++
			if pages > 10 {
				t.Fatalf("%s: more than 10 pages (the link leads back: %s)", c.first, path)
			}
			rows, next := f.listPage(path)
			if next != "" && (!strings.HasPrefix(next, strings.SplitN(c.first, "?", 2)[0]+"?") || !strings.Contains(next, c.keep)) {
				t.Fatalf("%s: the %s link is %q, want the list with %q", path, c.link, next, c.keep)
			}
			if len(rows) > pageSize {
				t.Fatalf("%s shows %d rows", path, len(rows))
			}
			all = append(all, rows...)
			path = next
		}
		uniq := slices.Compact(slices.Sorted(slices.Values(all)))
		if pages != c.pages || len(all) != c.total || len(uniq) != c.total {
			t.Errorf("%s: %d pages, %d rows (%d different), want %d pages and each of %d rows once", c.first, pages, len(all), len(uniq), c.pages, c.total)
		}
		if c.wantRow != "" && !slices.Contains(all, c.wantRow) {
			t.Errorf("%s never shows %s", c.first, c.wantRow)
		}
	}
}

// TestListFiltersRefuseWhatTheyCannotRead: a filter value a list cannot
// read is 400 with what to write, not ignored (active=maybe listed every
// run; after without after_account started again from the first contact).
func TestListFiltersRefuseWhatTheyCannotRead(t *testing.T) {
	f := newFixture(t, testToken)
	for path, want := range map[string]string{
		"/api/runs?active=maybe":                 "active=maybe: write active=true, or leave it out",
		"/api/runs?active=1":                     "active=1: write active=true",
		"/api/contacts?account=sandbox&after=u1": "after and after_account go together",
		"/contacts?after_account=sandbox":        "after and after_account go together",
	} {
		if status, body, _ := f.do("GET", path, testToken, ""); status != http.StatusBadRequest || !strings.Contains(body, want) {
			t.Errorf("GET %s: %d %s, want 400 saying %q", path, status, body, want)
		}
	}
	for _, path := range []string{"/api/runs?active=true", "/api/runs?active=false", "/api/contacts?after_account=sandbox&after=u1"} {
		if status, body, _ := f.do("GET", path, testToken, ""); status != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, status, body)
		}
	}
}
