package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels/wechat"
)

// testPNG is a small PNG image.
func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 4, 4))
	img.Set(1, 2, color.RGBA{200, 10, 10, 255})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// postImage posts an image reply (multipart) with a bearer token and
// returns the status and the body.
func postImage(t *testing.T, u, token, name string, data []byte) (int, string) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	fw, err := mw.CreateFormFile("image", name)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequest("POST", u, &buf)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// nodeCallback posts a signed callback to a serve of nodeConfig's
// account main and fails the test unless it is answered 200.
func nodeCallback(t *testing.T, s *server, body string) {
	t.Helper()
	ts, nonce := fmt.Sprint(time.Now().Unix()), fmt.Sprint(time.Now().UnixNano())
	q := url.Values{"timestamp": {ts}, "nonce": {nonce}, "signature": {wechat.Signature("convtoken", ts, nonce)}, "openid": {"x"}}
	resp, err := http.Post("http://"+s.Addr()+"/wechat/main?"+q.Encode(), "text/xml", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a callback to %s: %d", s.Addr(), resp.StatusCode)
	}
}

// TestImageReplyAcrossNodes: an image an operator uploads on one node,
// to reply to a contact whose lane another node holds, reaches WeChat
// from that node (uploaded, then sent, once), and both nodes' consoles
// show it.
func TestImageReplyAcrossNodes(t *testing.T) {
	const amyToken = "amy-image-across-0123456789"
	a, b, api, contact, holder := amyNodes(t, amyToken, "image-")

	// The contact writes to node b (its lane's node): the window opens.
	nodeCallback(t, b, textXML(contact, time.Now().Unix(), 77, "help"))

	// amy replies with an image on node a: queued for node b.
	pic := testPNG(t)
	status, body := postImage(t, a.ConsoleURL()+"api/conversations/main/"+contact+"/reply", amyToken, "receipt.png", pic)
	if status != http.StatusAccepted {
		t.Fatalf("amy's image reply on node a: %d %s", status, body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := api.WaitSent(ctx, 1); err != nil {
		t.Fatalf("the image never reached WeChat: %v (uploads %+v)", err, api.Uploads())
	}
	if holder(contact) != b {
		t.Fatalf("the lane of %s moved meanwhile: the test proves nothing", contact)
	}
	ups := api.Uploads()
	if len(ups) != 1 || ups[0].Type != "image" || ups[0].Size != len(pic) {
		t.Fatalf("WeChat's uploads: %+v, want the %d-byte image once", ups, len(pic))
	}
	sent := api.Sent()
	if len(sent) != 1 || sent[0].ToUser != contact || sent[0].MsgType != "image" || !strings.Contains(string(sent[0].Body), ups[0].MediaID) {
		t.Fatalf("WeChat got %+v, want the image (media %s) to %s once", sent, ups[0].MediaID, contact)
	}

	// Both consoles show the image: the message's media from either node.
	var id int64
	for deadline := time.Now().Add(10 * time.Second); id == 0; {
		_, body := get(t, a.ConsoleURL()+"api/messages?contact="+contact, pgAdminToken)
		var list struct {
			Messages []struct {
				ID     int64  `json:"id"`
				Status string `json:"status"`
			} `json:"messages"`
		}
		if err := json.Unmarshal([]byte(body), &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Messages) == 1 && list.Messages[0].Status == "sent" {
			id = list.Messages[0].ID
			// The image is in the store, not on node a's disk (both nodes
			// of this test share one: a path would reach node b here, and
			// not across machines).
			if !strings.Contains(body, `"upload": "`) || strings.Contains(body, `"path"`) {
				t.Fatalf("the message names its image by a path, not an upload in the store: %s", body)
			}
		} else if time.Now().After(deadline) {
			t.Fatalf("the reply is not sent in the store: %s", body)
		}
		time.Sleep(20 * time.Millisecond) // polls the outcome's commit, in real time
	}
	for name, s := range map[string]*server{"node a": a, "node b": b} {
		status, got := get(t, fmt.Sprintf("%smessages/%d/media", s.ConsoleURL(), id), pgAdminToken)
		if status != http.StatusOK || got != string(pic) {
			t.Errorf("%s's console serves the image: %d, %d bytes, want the %d uploaded", name, status, len(got), len(pic))
		}
	}
}
