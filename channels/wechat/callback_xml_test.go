package wechat_test

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/channels"
	"github.com/wxflow/wxflow/channels/wechat"
)

// cbTestAccount is the account id the callback tests convert events for.
const cbTestAccount = "acme"

// cbTestAt is the time of CreateTime 1715943329.
var cbTestAt = time.Date(2024, 5, 17, 10, 55, 29, 0, time.UTC)

// cbTestCase is a callback body and the event it becomes. When cb is set,
// the whole parsed Callback is compared too.
type cbTestCase struct {
	name string
	body string
	cb   *wechat.Callback
	want channels.Event
}

// cbTestHead is the common start of a callback from contact oUser1 at
// cbTestAt, in CDATA as WeChat writes it.
const cbTestHead = `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>
<FromUserName><![CDATA[oUser1]]></FromUserName>
<CreateTime>1715943329</CreateTime>
`

// cbTestEvent returns the event of contact oUser1 at cbTestAt.
func cbTestEvent(e channels.Event) channels.Event {
	e.Account, e.Contact, e.At = cbTestAccount, "oUser1", cbTestAt
	return e
}

// cbTestScanCode returns a Callback's ScanCodeInfo.
func cbTestScanCode(typ, result string) (s struct{ ScanType, ScanResult string }) {
	s.ScanType, s.ScanResult = typ, result
	return s
}

// cbTestCases are the messages and events of WECHAT.md section 2, written
// as WeChat sends them, with numbers bare and in CDATA.
var cbTestCases = []cbTestCase{
	{
		name: "text",
		body: cbTestHead + `<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[你好, world]]></Content>
<MsgId>24567891234567890</MsgId>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "text", Content: "你好, world", MsgID: "24567891234567890"},
		want: cbTestEvent(channels.Event{Kind: channels.Text, Text: "你好, world", MsgID: "24567891234567890"}),
	},
	{
		name: "text, numbers in CDATA with whitespace",
		body: `<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName><FromUserName><![CDATA[oUser1]]></FromUserName>` +
			`<CreateTime><![CDATA[ 1715943329 ]]></CreateTime><MsgType><![CDATA[text]]></MsgType>` +
			`<Content><![CDATA[  spaced text  ]]></Content><MsgId><![CDATA[
			18446744073709551615
			]]></MsgId></xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "text", Content: "  spaced text  ", MsgID: "18446744073709551615"},
		want: cbTestEvent(channels.Event{Kind: channels.Text, Text: "  spaced text  ", MsgID: "18446744073709551615"}),
	},
	{
		name: "text, pretty-printed with bare values",
		body: `<?xml version="1.0" encoding="UTF-8"?>
<!-- a callback -->
<xml>
  <ToUserName>gh_97417a04a28d</ToUserName>
  <FromUserName>
    oUser1
  </FromUserName>
  <CreateTime>
    1715943329
  </CreateTime>
  <MsgType>text</MsgType>
  <Content>a &lt;b&gt; &amp; &#20320;&#x597d;</Content>
  <MsgId> 42 </MsgId>
</xml>
`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "text", Content: "a <b> & 你好", MsgID: "42"},
		want: cbTestEvent(channels.Event{Kind: channels.Text, Text: "a <b> & 你好", MsgID: "42"}),
	},
	{
		name: "text from a message menu",
		body: cbTestHead + `<MsgType><![CDATA[text]]></MsgType>
<Content><![CDATA[满意]]></Content>
<MsgId>24567891234567891</MsgId>
<bizmsgmenuid>101</bizmsgmenuid>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "text", Content: "满意", MsgID: "24567891234567891", BizMsgMenuID: "101"},
		want: cbTestEvent(channels.Event{Kind: channels.MenuClick, Text: "满意", Key: "101", MsgID: "24567891234567891"}),
	},
	{
		name: "image",
		body: cbTestHead + `<MsgType><![CDATA[image]]></MsgType>
<PicUrl><![CDATA[http://mmbiz.qpic.cn/mmbiz_jpg/abc/0]]></PicUrl>
<MsgId>24567891234567892</MsgId>
<MediaId><![CDATA[media_image_1]]></MediaId>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "image", PicURL: "http://mmbiz.qpic.cn/mmbiz_jpg/abc/0", MsgID: "24567891234567892", MediaID: "media_image_1"},
		want: cbTestEvent(channels.Event{Kind: channels.Image, MediaID: "media_image_1", MsgID: "24567891234567892"}),
	},
	{
		name: "voice without recognition",
		body: cbTestHead + `<MsgType><![CDATA[voice]]></MsgType>
<MediaId><![CDATA[media_voice_1]]></MediaId>
<Format><![CDATA[amr]]></Format>
<MsgId>24567891234567893</MsgId>
<Recognition><![CDATA[]]></Recognition>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "voice", MediaID: "media_voice_1", Format: "amr", MsgID: "24567891234567893"},
		want: cbTestEvent(channels.Event{Kind: channels.Voice, MediaID: "media_voice_1", MsgID: "24567891234567893"}),
	},
	{
		name: "voice with recognition",
		body: cbTestHead + `<MsgType><![CDATA[voice]]></MsgType>
<MediaId><![CDATA[media_voice_2]]></MediaId>
<Format><![CDATA[speex]]></Format>
<Recognition><![CDATA[腾讯微信团队]]></Recognition>
<MsgId>24567891234567894</MsgId>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Voice, MediaID: "media_voice_2", Text: "腾讯微信团队", MsgID: "24567891234567894"}),
	},
	{
		name: "video",
		body: cbTestHead + `<MsgType><![CDATA[video]]></MsgType>
<MediaId><![CDATA[media_video_1]]></MediaId>
<ThumbMediaId><![CDATA[thumb_1]]></ThumbMediaId>
<MsgId>24567891234567895</MsgId>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "video", MediaID: "media_video_1", ThumbMediaID: "thumb_1", MsgID: "24567891234567895"},
		want: cbTestEvent(channels.Event{Kind: channels.Video, MediaID: "media_video_1", MsgID: "24567891234567895"}),
	},
	{
		name: "shortvideo",
		body: cbTestHead + `<MsgType><![CDATA[shortvideo]]></MsgType>
<MediaId><![CDATA[media_video_2]]></MediaId>
<ThumbMediaId><![CDATA[thumb_2]]></ThumbMediaId>
<MsgId>24567891234567896</MsgId>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Video, MediaID: "media_video_2", MsgID: "24567891234567896"}),
	},
	{
		name: "location",
		body: cbTestHead + `<MsgType><![CDATA[location]]></MsgType>
<Location_X>23.134521</Location_X>
<Location_Y><![CDATA[113.358803]]></Location_Y>
<Scale>20</Scale>
<Label><![CDATA[广州市天河区]]></Label>
<MsgId>24567891234567897</MsgId>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "location", LocationX: 23.134521, LocationY: 113.358803, Scale: 20, Label: "广州市天河区", MsgID: "24567891234567897"},
		want: cbTestEvent(channels.Event{Kind: channels.Location, MsgID: "24567891234567897",
			Location: &channels.Geo{Lat: 23.134521, Lng: 113.358803, Scale: 20, Label: "广州市天河区"}}),
	},
	{
		name: "location, negative and integral coordinates, scale as 15.0",
		body: cbTestHead + `<MsgType>location</MsgType><Location_X>-33</Location_X><Location_Y>-70.6483</Location_Y>` +
			`<Scale> 15.0 </Scale><Label>Santiago</Label><MsgId>7</MsgId></xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Location, MsgID: "7",
			Location: &channels.Geo{Lat: -33, Lng: -70.6483, Scale: 15, Label: "Santiago"}}),
	},
	{
		name: "link",
		body: cbTestHead + `<MsgType><![CDATA[link]]></MsgType>
<Title><![CDATA[公众平台官网链接]]></Title>
<Description><![CDATA[公众平台官网链接]]></Description>
<Url><![CDATA[https://mp.weixin.qq.com/s/abc]]></Url>
<MsgId>24567891234567898</MsgId>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "link", Title: "公众平台官网链接", Description: "公众平台官网链接", URL: "https://mp.weixin.qq.com/s/abc", MsgID: "24567891234567898"},
		want: cbTestEvent(channels.Event{Kind: channels.Link, Text: "https://mp.weixin.qq.com/s/abc", MsgID: "24567891234567898"}),
	},
	{
		name: "subscribe",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe]]></Event>
<EventKey><![CDATA[]]></EventKey>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "event", EventType: "subscribe"},
		want: cbTestEvent(channels.Event{Kind: channels.Follow}),
	},
	{
		name: "subscribe through a QR code",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[subscribe]]></Event>
<EventKey><![CDATA[qrscene_store_1]]></EventKey>
<Ticket><![CDATA[gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw==]]></Ticket>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "event", EventType: "subscribe", EventKey: "qrscene_store_1",
			Ticket: "gQH47joAAAAAAAAAASxodHRwOi8vd2VpeGluLnFxLmNvbS9xL2taZ2Z3TVRtNzJXV1Brb3ZhYmJJAAIEZ23sUwMEmm3sUw=="},
		want: cbTestEvent(channels.Event{Kind: channels.Follow, Scene: "store_1"}),
	},
	{
		name: "subscribe with another case",
		body: cbTestHead + `<MsgType>event</MsgType><Event>Subscribe</Event><EventKey>qrscene_123123</EventKey></xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Follow, Scene: "123123"}),
	},
	{
		name: "unsubscribe",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[unsubscribe]]></Event>
<EventKey><![CDATA[]]></EventKey>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Unfollow}),
	},
	{
		name: "SCAN",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[SCAN]]></Event>
<EventKey><![CDATA[store_1]]></EventKey>
<Ticket><![CDATA[TICKET]]></Ticket>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Scan, Scene: "store_1"}),
	},
	{
		name: "scan in lower case",
		body: cbTestHead + `<MsgType>event</MsgType><Event>scan</Event><EventKey>123123</EventKey></xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Scan, Scene: "123123"}),
	},
	{
		name: "CLICK",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[CLICK]]></Event>
<EventKey><![CDATA[MENU_HELP]]></EventKey>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.MenuClick, Key: "MENU_HELP"}),
	},
	{
		name: "click in lower case",
		body: cbTestHead + `<MsgType>event</MsgType><Event>click</Event><EventKey>MENU_HOURS</EventKey></xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.MenuClick, Key: "MENU_HOURS"}),
	},
	{
		name: "VIEW",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[VIEW]]></Event>
<EventKey><![CDATA[https://example.com/shop?a=1&b=2]]></EventKey>
<MenuId>208379533</MenuId>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.View, Key: "https://example.com/shop?a=1&b=2"}),
	},
	{
		name: "LOCATION",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[LOCATION]]></Event>
<Latitude>23.137466</Latitude>
<Longitude><![CDATA[113.352425]]></Longitude>
<Precision>119.385040</Precision>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "event", EventType: "LOCATION", Latitude: 23.137466, Longitude: 113.352425, Precision: 119.38504},
		want: cbTestEvent(channels.Event{Kind: channels.LocationReport, Location: &channels.Geo{Lat: 23.137466, Lng: 113.352425}}),
	},
	{
		name: "scancode_push",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[scancode_push]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[qrcode]]></ScanType>
<ScanResult><![CDATA[1]]></ScanResult>
</ScanCodeInfo>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "event", EventType: "scancode_push", EventKey: "6", ScanCodeInfo: cbTestScanCode("qrcode", "1")},
		want: cbTestEvent(channels.Event{Kind: channels.MenuClick, Key: "6"}),
	},
	{
		name: "scancode_waitmsg",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[scancode_waitmsg]]></Event>
<EventKey><![CDATA[SCAN_ORDER]]></EventKey>
<ScanCodeInfo><ScanType><![CDATA[barcode]]></ScanType>
<ScanResult><![CDATA[EAN_13,6901234567892]]></ScanResult>
</ScanCodeInfo>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.MenuClick, Key: "SCAN_ORDER"}),
	},
	{
		name: "pic_sysphoto",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[pic_sysphoto]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendPicsInfo><Count>1</Count>
<PicList><item><PicMd5Sum><![CDATA[1b5f7c23b5bf75682a53e7b6d163e185]]></PicMd5Sum>
</item>
</PicList>
</SendPicsInfo>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Other, Name: "pic_sysphoto", Key: "6"}),
	},
	{
		name: "location_select",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[location_select]]></Event>
<EventKey><![CDATA[6]]></EventKey>
<SendLocationInfo><Location_X><![CDATA[23]]></Location_X>
<Location_Y><![CDATA[113]]></Location_Y>
<Scale><![CDATA[15]]></Scale>
<Label><![CDATA[ 广州市海珠区客村艺苑路 106号]]></Label>
<Poiname><![CDATA[]]></Poiname>
</SendLocationInfo>
</xml>`,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "oUser1", CreateTime: 1715943329,
			MsgType: "event", EventType: "location_select", EventKey: "6"},
		want: cbTestEvent(channels.Event{Kind: channels.Other, Name: "location_select", Key: "6"}),
	},
	{
		name: "templatesendjobfinish",
		body: cbTestHead + `<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
<MsgID>200163836</MsgID>
<Status><![CDATA[success]]></Status>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.Other, Name: "TEMPLATESENDJOBFINISH"}),
	},
	{
		name: "unknown MsgType",
		body: cbTestHead + `<MsgType><![CDATA[miniprogrampage]]></MsgType>
<MsgId>24567891234567899</MsgId>
<Title><![CDATA[title]]></Title>
</xml>`,
		want: cbTestEvent(channels.Event{Kind: channels.OtherMessage, Name: "miniprogrampage", MsgID: "24567891234567899"}),
	},
	{
		name: "vector E plaintext: debug_demo",
		body: cryptoVecE.plain,
		cb: &wechat.Callback{ToUserName: "gh_97417a04a28d", FromUserName: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", CreateTime: 1715943329,
			MsgType: "event", EventType: "debug_demo"},
		want: channels.Event{Account: cbTestAccount, Contact: "o9AgO5Kd5ggOC-bXrbNODIiE3bGY", At: cbTestAt,
			Kind: channels.Other, Name: "debug_demo"},
	},
	{
		name: "vector F plaintext: text with AgentID",
		body: cryptoVecF.plain,
		cb: &wechat.Callback{ToUserName: "wx49f0ab532d5d035a", FromUserName: "messense", CreateTime: 1411525903,
			MsgType: "text", Content: "test", MsgID: "4363689963896700987"},
		want: channels.Event{Account: cbTestAccount, Contact: "messense", At: time.Unix(1411525903, 0).UTC(),
			Kind: channels.Text, Text: "test", MsgID: "4363689963896700987"},
	},
	{
		name: "safe-mode envelope",
		body: `<xml>
    <ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>
    <Encrypt><![CDATA[` + cryptoVecE.encrypt + `]]></Encrypt>
</xml>`,
		cb:   &wechat.Callback{ToUserName: "gh_97417a04a28d", Encrypt: cryptoVecE.encrypt},
		want: channels.Event{Account: cbTestAccount, At: time.Unix(0, 0).UTC(), Kind: channels.Other},
	},
}

func TestParseCallback(t *testing.T) {
	t.Parallel()
	for _, tt := range cbTestCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cb, err := wechat.ParseCallback([]byte(tt.body))
			if err != nil {
				t.Fatalf("ParseCallback: %v", err)
			}
			if tt.cb != nil && !reflect.DeepEqual(cb, tt.cb) {
				t.Errorf("ParseCallback =\n%+v\nwant\n%+v", *cb, *tt.cb)
			}
			got := cb.Event(cbTestAccount)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Event =\n%s\nwant\n%s", cbTestFormat(got), cbTestFormat(tt.want))
			}
		})
	}
}

// cbTestFormat writes an event for a failure message, its location
// included.
func cbTestFormat(e channels.Event) string {
	s := fmt.Sprintf("%+v", e)
	if e.Location != nil {
		s += fmt.Sprintf(" location %+v", *e.Location)
	}
	return s
}

// TestCallbackEventDedupe checks that the retries of a callback share a
// key and that distinct events do not.
func TestCallbackEventDedupe(t *testing.T) {
	t.Parallel()
	keys := map[string]string{}
	for _, tt := range cbTestCases {
		cb, err := wechat.ParseCallback([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		again, err := wechat.ParseCallback([]byte(tt.body))
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		e1, e2 := cb.Event(cbTestAccount), again.Event(cbTestAccount)
		if k1, k2 := e1.DedupeKey(), e2.DedupeKey(); k1 != k2 {
			t.Errorf("%s: a retry has another dedupe key: %q, %q", tt.name, k1, k2)
		}
		if prev, ok := keys[e1.DedupeKey()]; ok {
			t.Errorf("%s and %s share the dedupe key %q", prev, tt.name, e1.DedupeKey())
		}
		keys[e1.DedupeKey()] = tt.name
	}
}

func TestParseCallbackLimits(t *testing.T) {
	t.Parallel()
	nest := func(n int) string { // root plus n-1 nested elements
		return "<xml>" + strings.Repeat("<a>", n-1) + "x" + strings.Repeat("</a>", n-1) + "</xml>"
	}
	many := func(n int) string { // root plus n-1 children
		return "<xml>" + strings.Repeat("<a/>", n-1) + "</xml>"
	}
	tests := []struct {
		name string
		body string
		ok   bool
	}{
		{"depth 8", nest(8), true},
		{"depth 9", nest(9), false},
		{"256 elements", many(256), true},
		{"257 elements", many(257), false},
		{"1 MiB", "<xml>" + strings.Repeat(" ", 1<<20-len("<xml></xml>")) + "</xml>", true},
		{"over 1 MiB", "<xml>" + strings.Repeat(" ", 1<<20) + "</xml>", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := wechat.ParseCallback([]byte(tt.body))
			if tt.ok && err != nil {
				t.Errorf("ParseCallback: %v, want success", err)
			}
			if !tt.ok && !errors.Is(err, wechat.ErrMalformed) {
				t.Errorf("ParseCallback: %v, want ErrMalformed", err)
			}
		})
	}
}

// cbTestMalformed are bodies ParseCallback must refuse, with a part of the
// message saying why.
var cbTestMalformed = []struct {
	name string
	body string
	says string
}{
	{"empty", "", "no <xml> root element"},
	{"not XML", "success", "text before the root element (not XML?)"},
	{"JSON", `{"ToUserName":"gh_1"}`, "text before the root element"},
	{"wrong root", `<message><MsgType>text</MsgType></message>`, "root element is <message>, want <xml>"},
	{"namespaced root", `<x:xml xmlns:x="urn:x"><MsgType>text</MsgType></x:xml>`, "root element is <urn:x:xml>"},
	{"mismatched tags", `<xml><Content>a</MsgType></xml>`, "element <Content> closed by </MsgType>"},
	{"unclosed root", cbTestHead + `<MsgType>text</MsgType>`, "unexpected EOF"},
	{"billion laughs", `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<xml><Content>&lol3;</Content></xml>`, "DOCTYPE is not allowed"},
	{"external entity", `<!DOCTYPE xml [<!ENTITY xxe SYSTEM "file:///etc/passwd">]><xml><Content>&xxe;</Content></xml>`, "DOCTYPE is not allowed"},
	{"plain DOCTYPE", `<!DOCTYPE xml><xml></xml>`, "DOCTYPE is not allowed"},
	{"lower-case doctype", `<!doctype xml><xml></xml>`, "DOCTYPE is not allowed"},
	{"DOCTYPE inside the root", `<xml><!DOCTYPE x></xml>`, "DOCTYPE is not allowed"},
	{"other directive", `<xml><!ENTITY x "y"></xml>`, "directives are not allowed"},
	{"undeclared entity", `<xml><Content>&lol;</Content></xml>`, "invalid character entity &lol;"},
	{"deep nesting", "<xml>" + strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100) + "</xml>", "nested deeper than 8"},
	{"too many elements", "<xml>" + strings.Repeat("<a>x</a>", 1000) + "</xml>", "more than 256 elements"},
	{"trailing garbage", cbTestHead + `<MsgType>text</MsgType></xml>garbage`, "text after the root element"},
	{"second root", `<xml></xml><xml></xml>`, "element <xml> after the root element"},
	{"garbage before", `garbage<xml></xml>`, "text before the root element"},
	{"processing instruction inside", `<xml><?php echo 1; ?></xml>`, "processing instruction <?php?> inside or after"},
	{"bad CreateTime", cbTestHead[:strings.Index(cbTestHead, "<CreateTime>")] + `<CreateTime>yesterday</CreateTime></xml>`, `CreateTime "yesterday"`},
	{"CreateTime overflows", `<xml><CreateTime>99999999999999999999</CreateTime></xml>`, `CreateTime "99999999999999999999"`},
	{"negative MsgId", `<xml><MsgId>-1</MsgId></xml>`, `MsgId "-1" is not digits`},
	{"MsgId with a sign", `<xml><MsgId>+1</MsgId></xml>`, `MsgId "+1" is not digits`},
	{"MsgId over 64 bits", `<xml><MsgId>18446744073709551616</MsgId></xml>`, `MsgId "18446744073709551616" does not fit 64 bits`},
	{"Location_X NaN", `<xml><Location_X>NaN</Location_X></xml>`, `Location_X "NaN" is not a number`},
	{"Latitude infinite", `<xml><Latitude>+Inf</Latitude></xml>`, `Latitude "+Inf" is not a number`},
	{"Longitude too large", `<xml><Longitude>1e999</Longitude></xml>`, `Longitude "1e999" is not a number`},
	{"Scale with a fraction", `<xml><Scale>1.5</Scale></xml>`, `Scale "1.5" is not a whole number`},
	{"Scale too large", `<xml><Scale>1e20</Scale></xml>`, `Scale "1e20" is not a whole number`},
	{"field twice", `<xml><FromUserName>a</FromUserName><FromUserName>b</FromUserName></xml>`, "field <FromUserName> appears twice"},
	{"Encrypt twice", `<xml><Encrypt>a</Encrypt><Encrypt>b</Encrypt></xml>`, "field <Encrypt> appears twice"},
	{"field holding an element", `<xml><Content><b>bold</b></Content></xml>`, "field <Content> holds an element <b>"},
	{"invalid UTF-8", "<xml><Content>\xff\xfe</Content></xml>", "invalid UTF-8"},
	{"control character", "<xml><Content>\x01</Content></xml>", "illegal character code U+0001"},
	{"GBK declared", `<?xml version="1.0" encoding="GBK"?><xml></xml>`, `encoding "GBK" declared but Decoder.CharsetReader is nil`},
	{"long bad value is cut", `<xml><CreateTime>` + strings.Repeat("9", 100) + `</CreateTime></xml>`, `CreateTime "` + strings.Repeat("9", 40) + `..." is not`},
}

func TestParseCallbackMalformed(t *testing.T) {
	t.Parallel()
	for _, tt := range cbTestMalformed {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cb, err := wechat.ParseCallback([]byte(tt.body))
			if err == nil {
				t.Fatalf("ParseCallback = %+v, want an error", *cb)
			}
			if cb != nil {
				t.Errorf("ParseCallback returned a callback with the error %v", err)
			}
			if !errors.Is(err, wechat.ErrMalformed) {
				t.Errorf("ParseCallback error %v does not wrap ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("ParseCallback error %q does not say %q", err, tt.says)
			}
		})
	}
}

// cbTestBounds are the longest values of the short fields, in bytes: the
// bounds docs/wechat.md gives.
var cbTestBounds = []struct {
	elem  string // the element, or its path below the root
	max   int
	value func(n int) string // a valid value of n bytes
}{
	{"ToUserName", 64, cbTestRepeat("g")},
	{"FromUserName", 64, cbTestRepeat("o")},
	{"MsgType", 32, cbTestRepeat("t")},
	{"Event", 64, cbTestRepeat("e")},
	{"EventKey", 1024, cbTestRepeat("k")},
	{"MsgId", 20, cbTestRepeat("1")},
	{"Ticket", 512, cbTestRepeat("T")},
	{"MediaId", 256, cbTestRepeat("m")},
	{"ThumbMediaId", 256, cbTestRepeat("m")},
	{"bizmsgmenuid", 256, cbTestRepeat("9")},
	{"Format", 32, cbTestRepeat("f")},
	{"PicUrl", 4096, cbTestRepeat("u")},
	{"Url", 4096, cbTestRepeat("u")},
	{"ScanCodeInfo/ScanType", 32, cbTestRepeat("q")},
	{"Content", 64 << 10, cbTestRepeat("中")},
	{"Recognition", 64 << 10, cbTestRepeat("r")},
	{"Label", 64 << 10, cbTestRepeat("l")},
	{"Title", 64 << 10, cbTestRepeat("t")},
	{"Description", 64 << 10, cbTestRepeat("d")},
	{"ScanCodeInfo/ScanResult", 64 << 10, cbTestRepeat("s")},
}

// cbTestRepeat returns a function giving s repeated to n bytes or, when s
// is longer than a byte, to at least n bytes.
func cbTestRepeat(s string) func(n int) string {
	return func(n int) string { return strings.Repeat(s, (n+len(s)-1)/len(s)) }
}

// cbTestWith is a text callback with elem (a path such as
// ScanCodeInfo/ScanType) set to v, replacing the element of that name the
// callback has.
func cbTestWith(elem, v string) string {
	base := map[string]string{"ToUserName": "gh_1", "FromUserName": "oUser1", "MsgType": "text", "Content": "hi"}
	var b strings.Builder
	b.WriteString("<xml><CreateTime>1715943329</CreateTime>")
	for _, k := range []string{"ToUserName", "FromUserName", "MsgType", "Content"} {
		if k != elem {
			fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", k, base[k], k)
		}
	}
	outer, inner, nested := strings.Cut(elem, "/")
	if nested {
		fmt.Fprintf(&b, "<%s><%s><![CDATA[%s]]></%s></%s>", outer, inner, v, inner, outer)
	} else {
		fmt.Fprintf(&b, "<%s><![CDATA[%s]]></%s>", elem, v, elem)
	}
	b.WriteString("</xml>")
	return b.String()
}

// TestParseCallbackFieldBounds: each short field takes a value of its
// bound and refuses one byte more (or 900 KB), saying which field; the
// free texts have their own, larger, bound. Whitespace around an id is not
// counted.
func TestParseCallbackFieldBounds(t *testing.T) {
	t.Parallel()
	for _, tt := range cbTestBounds {
		t.Run(strings.ReplaceAll(tt.elem, "/", "_"), func(t *testing.T) {
			t.Parallel()
			name := tt.elem[strings.LastIndex(tt.elem, "/")+1:]
			at := tt.value(tt.max)
			if len(at) > tt.max {
				at = at[:len(at)-len("中")] // a multi-byte value just under the bound
			}
			if _, err := wechat.ParseCallback([]byte(cbTestWith(tt.elem, at))); err != nil {
				t.Errorf("%d bytes: %v, want success", len(at), err)
			}
			over := tt.value(tt.max + 1)
			for _, v := range []string{over, tt.value(900 << 10)} {
				cb, err := wechat.ParseCallback([]byte(cbTestWith(tt.elem, v)))
				if !errors.Is(err, wechat.ErrMalformed) {
					t.Fatalf("%d bytes: ParseCallback = %+v, %v; want ErrMalformed", len(v), cb, err)
				}
				want := fmt.Sprintf("%s is %d bytes, more than %d", name, len(v), tt.max)
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%d bytes: error %q does not say %q", len(v), err, want)
				}
			}
		})
	}
	// Pretty-printing around an id does not count.
	padded := "\n    " + strings.Repeat("o", 64) + "\n  "
	if cb, err := wechat.ParseCallback([]byte(cbTestWith("FromUserName", padded))); err != nil || cb.FromUserName != strings.Repeat("o", 64) {
		t.Errorf("padded FromUserName: %+v, %v", cb, err)
	}
}
