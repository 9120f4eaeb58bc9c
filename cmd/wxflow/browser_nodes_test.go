package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
)

// TestBrowserNodes: a serve on PostgreSQL shows the database's nodes in
// the console: the admin logs in, the menu leads to Nodes, this server's
// nodes are marked and hold every lane, and the page reads the nodes
// again by itself: another node that joins shows without a reload. The
// database's password shows nowhere.
func TestBrowserNodes(t *testing.T) {
	chromium := browserExec(t)
	s, database, token := pgServe(t)
	u, err := url.Parse(database)
	if err != nil {
		t.Fatal(err)
	}
	password, _ := u.User.Password()

	b := newBrowser(t, chromium, s.ConsoleURL())
	b.open("/login?next=%2Fnodes")
	b.typeInto(`form.login input[name=token]`, token)
	b.submit("log in", `form.login button`, 200)
	if p := b.path(); p != "/nodes" {
		t.Fatalf("logging in leads to %s, want /nodes", p)
	}
	if n := b.count(`nav a[href="/nodes"].here`); n != 1 {
		t.Fatalf("the menu has %d current links to the nodes page, want 1", n)
	}
	b.wantText("#nodes-held", "All 256 lanes are held by live nodes.")
	own := len(s.nodeIDs())
	if rows, marked := b.count("#nodes-table tbody tr"), b.count("#nodes-table .self-badge"); own == 0 || rows != own || marked != own {
		t.Fatalf("the nodes page lists %d nodes, %d marked as this server's; want this server's %d", rows, marked, own)
	}
	for _, id := range s.nodeIDs() {
		if n := b.count(fmt.Sprintf(`tr[data-node=%q] .self-badge`, id)); n != 1 {
			t.Fatalf("node %s is not marked as this server's", id)
		}
	}
	if password != "" && strings.Contains(b.html(), password) {
		t.Fatal("the nodes page shows the database's password")
	}
	b.shot("nodes")

	// Another node joins: the page shows it by itself, not marked.
	b.waitFor("the page reads the nodes again by itself", `document.body.getAttribute("data-live") === "on"`)
	browserEval[bool](b, `window.__notReloaded = true`)
	joinNode(t, database, "web-2")
	b.waitFor("the other node shows", `document.querySelector('tr[data-node^="web-2/"]') !== null`)
	if n := b.count(`tr[data-node^="web-2/"] .self-badge`); n != 0 {
		t.Fatal("another node is marked as this server's")
	}
	if !browserEval[bool](b, `window.__notReloaded === true`) {
		t.Fatal("the page was reloaded to show the other node")
	}
	b.shot("nodes-two")
}

// TestBrowserInboxAcrossNodes: an operator's inbox on one node updates by
// itself when a conversation changes on another node: the contact's
// lane is held by node b, which handles the contact's message and hands
// the conversation to amy, whose inbox is open on node a's console.
func TestBrowserInboxAcrossNodes(t *testing.T) {
	chromium := browserExec(t)
	const amyToken = "amy-across-nodes-0123456789"
	a, b, api, contact, holder := amyNodes(t, amyToken, "across-")

	amy := newBrowser(t, chromium, a.ConsoleURL())
	amy.loginAs(amyToken)
	amy.live()
	if n := amy.count(`#conversations tr[data-contact]`); n != 0 {
		t.Fatalf("amy's inbox holds %d conversations before any", n)
	}
	ts, nonce := fmt.Sprint(time.Now().Unix()), "4242"
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature("convtoken", ts, nonce)}, "openid": {contact}}
	resp, err := http.Post("http://"+b.Addr()+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(textXML(contact, time.Now().Unix(), 4242, "help")))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the callback to node b: %d", resp.StatusCode)
	}
	amy.waitFor("the conversation node b handed to amy shows in her inbox on node a", fmt.Sprintf(`!!document.querySelector('#conversations tr[data-contact=%q]')`, contact))
	amy.stillSamePage()
	if holder(contact) != b {
		t.Fatalf("the lane of %s moved meanwhile: the test proves nothing", contact)
	}
	amy.shot("inbox-across-nodes")

	// Her reply on node a is queued for node b, which sends it, once;
	// the conversation on node a shows it sent.
	amy.open("/inbox/main/" + contact)
	amy.live()
	amy.typeNew(`#reply textarea[name=text]`, "Hello from amy on node a")
	amy.submit("reply", `#reply button`, 200)
	// Queued, not done: node b checks it against the window then.
	amy.waitFor("the page says the reply is queued", `(document.querySelector('#done')||{innerText:''}).innerText.startsWith('Queued: reply: another node holds this contact and sends it')`)
	amy.transcriptHas("Hello from amy on node a")
	amy.waitFor("the reply shows sent", `[...document.querySelectorAll("#transcript > li")].some(li => li.innerText.includes("Hello from amy on node a") && li.innerText.includes("sent"))`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := api.WaitSent(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if got := api.Sent(); len(got) != 1 || got[0].ToUser != contact {
		t.Fatalf("the fake API got %+v, want amy's reply to %s once", got, contact)
	}
	amy.shot("conversation-across-nodes")
}
