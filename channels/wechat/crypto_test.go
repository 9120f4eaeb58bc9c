package wechat_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels/wechat"
)

// cryptoVector is one of WECHAT.md's official safe-mode vectors. keyHex is
// the AES key written out independently of the base64 decoding under
// test; plain is the decrypted message; pad is the padding it carries.
type cryptoVector struct {
	name      string
	token     string
	key       string
	keyHex    string
	appID     string
	timestamp string
	nonce     string
	random    string // for vectors that encrypt
	plain     string
	encrypt   string
	pad       int
	msgSig    string
}

var (
	cryptoVecA = cryptoVector{
		name:    "A",
		token:   "pamtest",
		key:     "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
		keyHex:  "69b71d79f8218a39259a7a29aabb2dbafc31cb3d35db7e39ebbf3d0010831051",
		appID:   "wxb11529c136998cb6",
		random:  "aaaabbbbccccdddd",
		plain:   "我是中文abcd123",
		encrypt: "jn1L23DB+6ELqJ+6bruv21Y6MD7KeIfP82D6gU39rmkgczbWwt5+3bnyg5K55bgVtVzd832WzZGMhkP72vVOfg==",
		pad:     64 - (16 + 4 + len("我是中文abcd123") + len("wxb11529c136998cb6")),
	}
	cryptoVecE = cryptoVector{
		name:      "E",
		token:     "AAAAA",
		key:       strings.Repeat("A", 43),
		keyHex:    strings.Repeat("00", 32),
		appID:     "wx134c8103faa5a59e",
		timestamp: "1715943329",
		nonce:     "1590219412",
		plain: "<xml><ToUserName><![CDATA[gh_97417a04a28d]]></ToUserName>\n" +
			"<FromUserName><![CDATA[o9AgO5Kd5ggOC-bXrbNODIiE3bGY]]></FromUserName>\n" +
			"<CreateTime>1715943329</CreateTime>\n" +
			"<MsgType><![CDATA[event]]></MsgType>\n" +
			"<Event><![CDATA[debug_demo]]></Event>\n" +
			"<debug_str><![CDATA[hello world]]></debug_str>\n" +
			"</xml>",
		encrypt: "D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJnyQ4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYzecSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4FUL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTFHTYe0Mg==",
		pad:     22,
		msgSig:  "6c12a4205838198b8fa631b3220723bb07f1015c",
	}
	// cryptoVecEReply is vector E's encrypted reply.
	cryptoVecEReply = cryptoVector{
		name:      "E reply",
		token:     "AAAAA",
		key:       strings.Repeat("A", 43),
		keyHex:    strings.Repeat("00", 32),
		appID:     "wx134c8103faa5a59e",
		timestamp: "1713424427",
		nonce:     "415670741",
		random:    "999951349e8ee746",
		plain:     "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>",
		encrypt:   "hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WELwqrGd7jMnV0zv3Zc9Nq7",
		pad:       96 - (16 + 4 + len("<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>") + len("wx134c8103faa5a59e")),
		msgSig:    "03e0812039325c2712ef5f0f980fd14c70d6e307",
	}
	cryptoVecF = cryptoVector{
		name:      "F",
		token:     "123456",
		key:       "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR",
		keyHex:    "916c4f115d94103cb15a998f74a0b71787603c398ebdf297d471a71140d2d5a4",
		appID:     "wx49f0ab532d5d035a",
		timestamp: "1411525903",
		nonce:     "461056294",
		plain: "<xml><ToUserName><![CDATA[wx49f0ab532d5d035a]]></ToUserName>\n" +
			"<FromUserName><![CDATA[messense]]></FromUserName>\n" +
			"<CreateTime>1411525903</CreateTime>\n" +
			"<MsgType><![CDATA[text]]></MsgType>\n" +
			"<Content><![CDATA[test]]></Content>\n" +
			"<MsgId>4363689963896700987</MsgId>\n" +
			"<AgentID>1</AgentID>\n" +
			"</xml>",
		encrypt: "RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRvZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1yCF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPOQipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=",
		pad:     1,
		msgSig:  "74d92dfeb87ba7c714f89d98870ae5eb62dff26d",
	}
	cryptoVectors = []cryptoVector{cryptoVecA, cryptoVecE, cryptoVecEReply, cryptoVecF}
)

// cryptoTestCipher returns the vector's cipher.
func cryptoTestCipher(t testing.TB, v cryptoVector) *wechat.Cipher {
	t.Helper()
	c, err := wechat.NewCipher(v.key, v.appID)
	if err != nil {
		t.Fatalf("NewCipher(vector %s): %v", v.name, err)
	}
	return c
}

// cryptoTestAES returns the block cipher and IV of an AES key in hex, built
// without the code under test.
func cryptoTestAES(t testing.TB, keyHex string) (cipher.Block, []byte) {
	t.Helper()
	key, err := hex.DecodeString(keyHex)
	if err != nil || len(key) != 32 {
		t.Fatalf("bad test key %q", keyHex)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	return block, key[:16]
}

// cryptoTestRawEncrypt encrypts a whole plaintext (padding included, a
// multiple of 16 bytes) with the AES key in hex and returns it in base64.
func cryptoTestRawEncrypt(t testing.TB, keyHex string, plaintext []byte) string {
	t.Helper()
	if len(plaintext)%16 != 0 {
		t.Fatalf("raw plaintext of %d bytes is not whole blocks", len(plaintext))
	}
	block, iv := cryptoTestAES(t, keyHex)
	out := make([]byte, len(plaintext))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, plaintext)
	return base64.StdEncoding.EncodeToString(out)
}

// cryptoTestRawDecrypt decrypts a base64 ciphertext with the AES key in hex
// and returns the whole plaintext, padding included.
func cryptoTestRawDecrypt(t testing.TB, keyHex, encrypted string) []byte {
	t.Helper()
	data, err := base64.StdEncoding.DecodeString(encrypted)
	if err != nil || len(data)%16 != 0 {
		t.Fatalf("bad test ciphertext %q", encrypted)
	}
	block, iv := cryptoTestAES(t, keyHex)
	out := make([]byte, len(data))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, data)
	return out
}

// cryptoTestPlaintext builds a safe-mode plaintext without padding.
func cryptoTestPlaintext(random string, msg []byte, appID string) []byte {
	b := []byte(random)
	b = binary.BigEndian.AppendUint32(b, uint32(len(msg)))
	b = append(b, msg...)
	return append(b, appID...)
}

// cryptoTestPadFull pads b as WeChat does, to a multiple of 32 bytes.
func cryptoTestPadFull(b []byte) []byte {
	return cryptoTestPad(b, 32-len(b)%32)
}

// cryptoTestPad pads b with n bytes of value n.
func cryptoTestPad(b []byte, n int) []byte {
	return append(b, bytes.Repeat([]byte{byte(n)}, n)...)
}

func TestSignatureVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		parts []string
		want  string
	}{
		{"E URL signature", []string{"AAAAA", "1715943329", "1590219412"}, "cc0c594499c1634947d5b502f158ee518947db27"},
		{"E msg_signature", []string{"AAAAA", "1715943329", "1590219412", cryptoVecE.encrypt}, cryptoVecE.msgSig},
		{"E reply MsgSignature", []string{"AAAAA", "1713424427", "415670741", cryptoVecEReply.encrypt}, cryptoVecEReply.msgSig},
		{"F msg_signature", []string{"123456", "1411525903", "461056294", cryptoVecF.encrypt}, cryptoVecF.msgSig},
		{"order of parts does not matter", []string{cryptoVecF.encrypt, "461056294", "1411525903", "123456"}, cryptoVecF.msgSig},
		{"no parts", nil, "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := wechat.Signature(tt.parts...); got != tt.want {
				t.Errorf("Signature = %s, want %s", got, tt.want)
			}
			if !wechat.VerifySignature(tt.want, tt.parts...) {
				t.Errorf("VerifySignature(%s) = false, want true", tt.want)
			}
			if !wechat.VerifySignature(strings.ToUpper(tt.want), tt.parts...) {
				t.Errorf("VerifySignature(upper case) = false, want true")
			}
		})
	}
}

func TestVerifySignatureRefuses(t *testing.T) {
	t.Parallel()
	parts := []string{"AAAAA", "1715943329", "1590219412"}
	const good = "cc0c594499c1634947d5b502f158ee518947db27"
	tests := []struct {
		name  string
		want  string
		parts []string
	}{
		{"one digit changed", "cc0c594499c1634947d5b502f158ee518947db28", parts},
		{"truncated", good[:39], parts},
		{"too long", good + "00", parts},
		{"not hex", "zz0c594499c1634947d5b502f158ee518947db27", parts},
		{"empty", "", parts},
		{"other timestamp", good, []string{"AAAAA", "1715943330", "1590219412"}},
		{"other token", good, []string{"AAAAB", "1715943329", "1590219412"}},
		{"parts joined differently", good, []string{"AAAAA1715943329", "1590219412"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if wechat.VerifySignature(tt.want, tt.parts...) {
				t.Errorf("VerifySignature(%q, %q) = true, want false", tt.want, tt.parts)
			}
		})
	}
}

func TestCipherDecryptVectors(t *testing.T) {
	t.Parallel()
	for _, v := range cryptoVectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			got, err := cryptoTestCipher(t, v).Decrypt(v.encrypt)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if !bytes.Equal(got, []byte(v.plain)) {
				t.Errorf("Decrypt =\n%q\nwant\n%q", got, v.plain)
			}
		})
	}
}

func TestCipherEncryptVectors(t *testing.T) {
	t.Parallel()
	for _, v := range []cryptoVector{cryptoVecA, cryptoVecEReply} {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			got, err := cryptoTestCipher(t, v).Encrypt([]byte(v.plain), []byte(v.random))
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			if got != v.encrypt {
				t.Errorf("Encrypt =\n%s\nwant\n%s", got, v.encrypt)
			}
		})
	}
}

// TestCipherKeyAndLayout checks each vector against an AES-256-CBC built
// from the key written in hex: the derived key, the IV, the plaintext
// layout and the padding are WeChat's.
func TestCipherKeyAndLayout(t *testing.T) {
	t.Parallel()
	for _, v := range cryptoVectors {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel()
			raw := cryptoTestRawDecrypt(t, v.keyHex, v.encrypt)
			if got := int(raw[len(raw)-1]); got != v.pad {
				t.Errorf("padding = %d, want %d", got, v.pad)
			}
			want := cryptoTestPad(cryptoTestPlaintext(string(raw[:16]), []byte(v.plain), v.appID), v.pad)
			if !bytes.Equal(raw, want) {
				t.Errorf("plaintext =\n%q\nwant\n%q", raw, want)
			}
			if v.random != "" && string(raw[:16]) != v.random {
				t.Errorf("random prefix = %q, want %q", raw[:16], v.random)
			}
		})
	}
}

func TestCipherPaddingCases(t *testing.T) {
	t.Parallel()
	v := cryptoVecA // an 18-byte AppID: 16+4+18 = 38 bytes around the message
	tests := []struct {
		name    string
		msg     string
		wantPad int
		wantLen int
	}{
		{"26 bytes: a full block of padding", strings.Repeat("x", 26), 32, 96},
		{"25 bytes: padding 1", strings.Repeat("x", 25), 1, 64},
		{"27 bytes: padding 31", strings.Repeat("x", 27), 31, 96},
		{"empty message", "", 26, 64},
		{"58 bytes: full block again", strings.Repeat("y", 58), 32, 128},
	}
	c := cryptoTestCipher(t, v)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			enc, err := c.Encrypt([]byte(tt.msg), []byte(v.random))
			if err != nil {
				t.Fatalf("Encrypt: %v", err)
			}
			raw := cryptoTestRawDecrypt(t, v.keyHex, enc)
			want := cryptoTestPad(cryptoTestPlaintext(v.random, []byte(tt.msg), v.appID), tt.wantPad)
			if len(raw) != tt.wantLen || !bytes.Equal(raw, want) {
				t.Errorf("plaintext (%d bytes) =\n%q\nwant (%d bytes)\n%q", len(raw), raw, tt.wantLen, want)
			}
			got, err := c.Decrypt(enc)
			if err != nil {
				t.Fatalf("Decrypt: %v", err)
			}
			if string(got) != tt.msg {
				t.Errorf("round trip = %q, want %q", got, tt.msg)
			}
		})
	}
}

// TestCipherDecryptAcceptsIndependentCiphertext decrypts messages
// encrypted without the code under test, with the padding lengths that
// matter.
func TestCipherDecryptAcceptsIndependentCiphertext(t *testing.T) {
	t.Parallel()
	v := cryptoVecF
	c := cryptoTestCipher(t, v)
	for _, n := range []int{0, 1, 13, 14, 15, 45, 46} {
		msg := strings.Repeat("m", n)
		pt := cryptoTestPlaintext("0123456789abcdef", []byte(msg), v.appID)
		pad := 32 - len(pt)%32
		enc := cryptoTestRawEncrypt(t, v.keyHex, cryptoTestPad(pt, pad))
		got, err := c.Decrypt(enc)
		if err != nil {
			t.Errorf("message of %d bytes (padding %d): %v", n, pad, err)
			continue
		}
		if string(got) != msg {
			t.Errorf("message of %d bytes = %q", n, got)
		}
	}
}

func TestCipherDecryptRefuses(t *testing.T) {
	t.Parallel()
	v := cryptoVecA
	c := cryptoTestCipher(t, v)
	raw := func(b []byte) string { return cryptoTestRawEncrypt(t, v.keyHex, b) }
	body := cryptoTestPlaintext(v.random, []byte("hello"), v.appID) // 43 bytes
	// padded ends body with n bytes of value, zeros between to fill
	// whole AES blocks.
	padded := func(n int, value byte) []byte {
		out := append([]byte(nil), body...)
		for (len(out)+n)%16 != 0 {
			out = append(out, 0)
		}
		return append(out, bytes.Repeat([]byte{value}, n)...)
	}
	differ := func(n, at int, value byte) []byte {
		b := padded(n, byte(n))
		b[len(b)-at] = value
		return b
	}
	fullEnc, err := c.Encrypt([]byte("hello"), []byte(v.random))
	if err != nil {
		t.Fatal(err)
	}
	fullRaw, _ := base64.StdEncoding.DecodeString(fullEnc)
	withLen := func(n uint32) []byte {
		b := cryptoTestPlaintext(v.random, []byte("hello"), v.appID)
		binary.BigEndian.PutUint32(b[16:20], n)
		return cryptoTestPadFull(b)
	}

	tests := []struct {
		name      string
		encrypted string
		want      error
	}{
		{"empty", "", wechat.ErrDecrypt},
		{"bad base64", "not base64!", wechat.ErrDecrypt},
		{"base64 of 20 bytes", base64.StdEncoding.EncodeToString(make([]byte, 20)), wechat.ErrDecrypt},
		{"truncated to one block", base64.StdEncoding.EncodeToString(fullRaw[:16]), wechat.ErrDecrypt},
		{"truncated by one block", base64.StdEncoding.EncodeToString(fullRaw[:len(fullRaw)-16]), wechat.ErrDecrypt},
		{"truncated base64", fullEnc[:len(fullEnc)-3], wechat.ErrDecrypt},
		{"padding 0", raw(padded(1, 0)), wechat.ErrDecrypt},
		{"padding 33", raw(padded(33, 33)), wechat.ErrDecrypt},
		{"padding 255", raw(padded(255, 255)), wechat.ErrDecrypt},
		{"padding bytes differ", raw(differ(4, 4, 7)), wechat.ErrDecrypt},
		{"padding bytes differ far back", raw(differ(32, 32, 31)), wechat.ErrDecrypt},
		{"padding byte zero inside", raw(differ(17, 9, 0)), wechat.ErrDecrypt},
		{"padding longer than the data", raw(bytes.Repeat([]byte{32}, 16)), wechat.ErrDecrypt},
		{"shorter than the header", raw(cryptoTestPad([]byte("0123456789abcdef"), 16)), wechat.ErrDecrypt},
		{"length field beyond the data", raw(withLen(1000)), wechat.ErrDecrypt},
		{"length field one past the AppID", raw(withLen(5 + 18 + 1)), wechat.ErrDecrypt},
		{"length field 2^32-1", raw(withLen(0xFFFFFFFF)), wechat.ErrDecrypt},
		{"other key (vector E)", cryptoVecE.encrypt, wechat.ErrDecrypt},
		{"other AppID", raw(cryptoTestPadFull(cryptoTestPlaintext(v.random, []byte("hello"), "wx0000000000000000"))), wechat.ErrAppID},
		{"no AppID", raw(cryptoTestPadFull(cryptoTestPlaintext(v.random, []byte("hello"), ""))), wechat.ErrAppID},
		{"AppID with a byte more", raw(cryptoTestPadFull(cryptoTestPlaintext(v.random, []byte("hello"), v.appID+"x"))), wechat.ErrAppID},
		{"length field eats the AppID", raw(withLen(5 + 18)), wechat.ErrAppID},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Decrypt(tt.encrypted)
			if err == nil {
				t.Fatalf("Decrypt = %q, want an error", got)
			}
			if !errors.Is(err, tt.want) {
				t.Errorf("Decrypt error %v, want %v", err, tt.want)
			}
			other := wechat.ErrAppID
			if tt.want == wechat.ErrAppID {
				other = wechat.ErrDecrypt
			}
			if errors.Is(err, other) {
				t.Errorf("Decrypt error %v matches %v too", err, other)
			}
			cryptoTestNoSecret(t, err.Error(), v)
		})
	}
}

// cryptoTestNoSecret fails when s holds the vector's key in any form.
func cryptoTestNoSecret(t *testing.T, s string, v cryptoVector) {
	t.Helper()
	key, _ := hex.DecodeString(v.keyHex)
	for _, secret := range []string{
		v.key, v.key[:16], v.keyHex, v.keyHex[:16],
		base64.StdEncoding.EncodeToString(key),
		string(key[:8]), fmt.Sprint(key[:4]), fmt.Sprintf("%x", key[:8]),
		strings.Trim(fmt.Sprint(key[:4]), "[]"),
	} {
		if strings.Contains(s, secret) {
			t.Errorf("%q contains the key (%q)", s, secret)
		}
	}
}

func TestNewCipherRefuses(t *testing.T) {
	t.Parallel()
	key := cryptoVecA.key
	tests := []struct {
		name, key, appID string
	}{
		{"42 characters", key[:42], "wx1"},
		{"44 characters", key + "A", "wx1"},
		{"with the = already", key[:42] + "=", "wx1"},
		{"not base64", key[:42] + "!", "wx1"},
		{"URL alphabet", key[:41] + "-_", "wx1"},
		{"newline inside", key[:20] + "\n" + key[21:], "wx1"},
		{"empty", "", "wx1"},
		{"empty AppID", key, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := wechat.NewCipher(tt.key, tt.appID)
			if err == nil {
				t.Fatalf("NewCipher = %v, want an error", c)
			}
			if tt.key != "" && len(tt.key) > 20 && strings.Contains(err.Error(), tt.key[:20]) {
				t.Errorf("error %q contains the key", err)
			}
			cryptoTestNoSecret(t, err.Error(), cryptoVecA)
		})
	}
}

func TestNewCipherAcceptsNonZeroTrailingBits(t *testing.T) {
	t.Parallel()
	// "G" carries 6 bits of which only 4 fit the 32nd byte: the other 2
	// are not zero, which base64.StdEncoding.Strict() would refuse.
	if _, err := base64.StdEncoding.Strict().DecodeString(cryptoVecA.key + "="); err == nil {
		t.Fatal("test premise: vector A's key should have non-zero trailing bits")
	}
	if _, err := wechat.NewCipher(cryptoVecA.key, cryptoVecA.appID); err != nil {
		t.Fatalf("NewCipher: %v", err)
	}
}

func TestCipherPrintsNoKey(t *testing.T) {
	t.Parallel()
	for _, v := range []cryptoVector{cryptoVecA, cryptoVecF} {
		c := cryptoTestCipher(t, v)
		for _, format := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
			cryptoTestNoSecret(t, fmt.Sprintf(format, c), v)
			cryptoTestNoSecret(t, fmt.Sprintf(format, *c), v)
		}
	}
}

func TestCipherEncryptMessage(t *testing.T) {
	t.Parallel()
	c := cryptoTestCipher(t, cryptoVecE)
	msg := []byte("<xml><Content><![CDATA[你好\n]]></Content></xml>")
	a, err := c.EncryptMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.EncryptMessage(msg)
	if err != nil {
		t.Fatal(err)
	}
	if a == b {
		t.Error("two encryptions of the same message are equal: the random prefix is reused")
	}
	for _, enc := range []string{a, b} {
		got, err := c.Decrypt(enc)
		if err != nil {
			t.Fatalf("Decrypt: %v", err)
		}
		if !bytes.Equal(got, msg) {
			t.Errorf("round trip = %q, want %q", got, msg)
		}
	}
}

func TestCipherEncryptRefuses(t *testing.T) {
	t.Parallel()
	c := cryptoTestCipher(t, cryptoVecA)
	for _, random := range [][]byte{nil, make([]byte, 15), make([]byte, 17)} {
		if enc, err := c.Encrypt([]byte("x"), random); err == nil {
			t.Errorf("Encrypt with %d random bytes = %q, want an error", len(random), enc)
		}
	}
	var nilCipher *wechat.Cipher
	if _, err := nilCipher.Encrypt([]byte("x"), make([]byte, 16)); err == nil {
		t.Error("Encrypt on a nil cipher: want an error")
	}
	if _, err := nilCipher.Decrypt(cryptoVecA.encrypt); !errors.Is(err, wechat.ErrDecrypt) {
		t.Errorf("Decrypt on a nil cipher: %v, want ErrDecrypt", err)
	}
}
