package wechat_test

import (
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels"
)

// hdlCallback is a plain callback from the test contact to the test
// account with the given fields after the common ones; a field of the
// common ones given in fields replaces it.
func hdlCallback(fields ...[2]string) string {
	common := [][2]string{{"ToUserName", hdlOrigID}, {"FromUserName", hdlContact}, {"CreateTime", hdlTS}}
	var b strings.Builder
	b.WriteString("<xml>")
	for _, f := range append(common, fields...) {
		replaced := false
		for _, g := range fields {
			replaced = replaced || (g[0] == f[0] && g[1] != f[1])
		}
		if !replaced {
			b.WriteString("<" + f[0] + "><![CDATA[" + f[1] + "]]></" + f[0] + ">")
		}
	}
	b.WriteString("</xml>")
	return b.String()
}

// TestHandlerRejectsOversizedFields: a callback whose short fields (the
// OpenID, MsgType, Event, EventKey, ...) are far longer than WeChat's is
// answered 400 with a reason naming the field, and nothing is stored; a
// text keeps its own, larger, bound.
func TestHandlerRejectsOversizedFields(t *testing.T) {
	t.Parallel()
	// huge is the size the attack used; long is enough for the others.
	huge := func(c string) string { return strings.Repeat(c, 900<<10) }
	long := func(c string) string { return strings.Repeat(c, 16<<10) }
	text := func(content string) [][2]string {
		return [][2]string{{"MsgType", "text"}, {"Content", content}, {"MsgId", "1001"}}
	}
	click := func(event, key string) [][2]string {
		return [][2]string{{"MsgType", "event"}, {"Event", event}, {"EventKey", key}}
	}
	tests := []struct {
		name   string
		fields [][2]string
		reason string
	}{
		{"FromUserName", append(text("hi"), [2]string{"FromUserName", huge("o")}), "FromUserName is 921600 bytes, more than 64"},
		{"ToUserName", append(text("hi"), [2]string{"ToUserName", long("g")}), "ToUserName is 16384 bytes, more than 64"},
		{"MsgType", [][2]string{{"MsgType", long("t")}, {"Content", "hi"}}, "MsgType is 16384 bytes, more than 32"},
		{"Event", click(long("E"), "k"), "Event is 16384 bytes, more than 64"},
		{"EventKey", click("CLICK", long("k")), "EventKey is 16384 bytes, more than 1024"},
		{"Ticket", append(click("SCAN", "1"), [2]string{"Ticket", long("T")}), "Ticket is 16384 bytes, more than 512"},
		{"MsgId", append(text("hi")[:2], [2]string{"MsgId", long("0")}), "MsgId is 16384 bytes, more than 20"},
		{"MediaId", [][2]string{{"MsgType", "image"}, {"MediaId", long("m")}}, "MediaId is 16384 bytes, more than 256"},
		{"Content", text(strings.Repeat("x", 64<<10+1)), "Content is 65537 bytes, more than 65536"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := hdlSetup(t, nil, hdlPlainAccount())
			a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlCallback(tt.fields...))
			if a.status != 400 {
				t.Errorf("status %d, want 400 (body %q)", a.status, a.body)
			}
			want := `reason="malformed callback XML: ` + tt.reason + `"`
			if log := env.log.String(); !strings.Contains(log, want) || !strings.Contains(log, "status=400") {
				t.Errorf("log does not give %s:\n%.500s", want, log)
			}
			if obs := env.waitObs(t, 1); obs[0] != (hdlObservation{hdlAccount, "", 400}) {
				t.Errorf("observed %+v", obs[0])
			}
			hdlNoEvents(t, env)
		})
	}

	t.Run("encrypted", func(t *testing.T) {
		t.Parallel()
		env := hdlSetup(t, nil, hdlSafeAccount(t))
		inner := hdlCallback(append(text("hi"), [2]string{"FromUserName", strings.Repeat("o", 100<<10)})...)
		q, body := hdlEncrypted(t, hdlCipher(t, hdlKey, hdlAppID), hdlToken, hdlTS, hdlNonce, hdlOrigID, inner)
		a := env.post(t, hdlAccount, q, body)
		want := `reason="decrypted body: malformed callback XML: FromUserName is 102400 bytes, more than 64"`
		if log := env.log.String(); a.status != 400 || !strings.Contains(log, want) {
			t.Errorf("status %d, log:\n%.500s\nwant 400 and %s", a.status, log, want)
		}
		hdlNoEvents(t, env)
	})

	t.Run("at the bounds", func(t *testing.T) {
		t.Parallel()
		env := hdlSetup(t, nil, hdlPlainAccount())
		content := strings.Repeat("x", 64<<10)
		a := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlCallback(text(content)...))
		key := strings.Repeat("k", 1024)
		b := env.post(t, hdlAccount, hdlQuery(hdlToken, hdlTS, hdlNonce), hdlCallback(click("CLICK", key)...))
		if a.status != 200 || b.status != 200 {
			t.Fatalf("statuses %d and %d, want 200 (%q, %q)", a.status, b.status, a.body, b.body)
		}
		hdlWantEvents(t, env, hdlTextEvent(hdlAccount, content, "1001"), channels.Event{
			Account: hdlAccount, Contact: hdlContact, Kind: channels.MenuClick, Key: key, At: hdlNow.UTC(),
		})
	})
}
