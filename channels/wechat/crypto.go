package wechat

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
)

// Signature returns the lowercase hex SHA-1 of parts sorted byte-wise and
// joined with no separator: WeChat's signature over [token, timestamp,
// nonce] and its msg_signature over [token, timestamp, nonce, Encrypt].
func Signature(parts ...string) string {
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return hex.EncodeToString(sum[:])
}

// VerifySignature reports whether want is the Signature of parts. It
// compares in constant time and accepts want in either letter case.
func VerifySignature(want string, parts ...string) bool {
	got, err := hex.DecodeString(want)
	if err != nil || len(got) != sha1.Size {
		return false
	}
	sorted := append([]string(nil), parts...)
	sort.Strings(sorted)
	sum := sha1.Sum([]byte(strings.Join(sorted, "")))
	return subtle.ConstantTimeCompare(got, sum[:]) == 1
}

// ErrDecrypt is wrapped by every error of Cipher.Decrypt except an AppID
// mismatch: the value is not base64, not whole AES blocks, or its padding
// or length field is invalid (usually the wrong EncodingAESKey).
var ErrDecrypt = errors.New("safe-mode message does not decrypt")

// ErrAppID is wrapped by the error of Cipher.Decrypt when the message
// decrypted but names another account's AppID.
var ErrAppID = errors.New("safe-mode message is for another AppID")

// The shape of safe-mode plaintext.
const (
	// aesKeyChars is the length of an EncodingAESKey.
	aesKeyChars = 43
	// aesRandomLen is the number of random bytes that start a plaintext.
	aesRandomLen = 16
	// aesHeaderLen is the random bytes plus the 4-byte length field.
	aesHeaderLen = aesRandomLen + 4
	// aesPadBlock is WeChat's PKCS#7 block: pad values are 1..32.
	aesPadBlock = 32
	// aesErrAppIDMax bounds how much of a foreign AppID an error quotes.
	aesErrAppIDMax = 64
)

// Cipher encrypts and decrypts safe-mode messages for one account:
// AES-256-CBC with key = base64(EncodingAESKey+"="), IV = key[:16], PKCS#7
// padding to 32-byte blocks, and plaintext = 16 random bytes + 4-byte
// big-endian message length + message + AppID. It is safe for concurrent
// use. Printing a Cipher shows no key material.
type Cipher struct {
	// keys is behind a pointer, and the IV (half the key) behind another,
	// so that fmt, whatever the verb, prints addresses, not key material.
	keys  *aesKeys
	appID string
}

// aesKeys is the secret part of a Cipher.
type aesKeys struct {
	block cipher.Block
	iv    *[aes.BlockSize]byte
}

// NewCipher returns the cipher of the account with the given 43-character
// EncodingAESKey and AppID. The key is decoded with base64.StdEncoding (not
// Strict: real keys have non-zero trailing bits). The error never contains
// the key.
func NewCipher(encodingAESKey, appID string) (*Cipher, error) {
	if len(encodingAESKey) != aesKeyChars {
		return nil, fmt.Errorf("EncodingAESKey must be %d characters, it has %d", aesKeyChars, len(encodingAESKey))
	}
	if appID == "" {
		return nil, errors.New("AppID is empty")
	}
	key, err := base64.StdEncoding.DecodeString(encodingAESKey + "=")
	if err != nil || len(key) != 32 {
		// The base64 error names only a position, but say nothing of
		// the key's content at all.
		return nil, errors.New("EncodingAESKey is not 43 base64 characters")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, errors.New("EncodingAESKey does not make an AES-256 key")
	}
	k := &aesKeys{block: block, iv: new([aes.BlockSize]byte)}
	copy(k.iv[:], key[:aes.BlockSize])
	return &Cipher{keys: k, appID: appID}, nil
}

// Decrypt decodes the base64 Encrypt value of a safe-mode callback,
// decrypts it, checks its padding, its length field and that its AppID is
// the cipher's, and returns the message. The error wraps ErrAppID when the
// AppID differs, ErrDecrypt otherwise. It never panics on any input.
func (c *Cipher) Decrypt(encrypted string) ([]byte, error) {
	if c == nil || c.keys == nil {
		return nil, fmt.Errorf("%w: no cipher", ErrDecrypt)
	}
	data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encrypted))
	if err != nil {
		return nil, fmt.Errorf("%w: not base64: %v", ErrDecrypt, err)
	}
	if len(data) == 0 || len(data)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("%w: ciphertext is %d bytes, not a non-zero multiple of %d", ErrDecrypt, len(data), aes.BlockSize)
	}
	cipher.NewCBCDecrypter(c.keys.block, c.keys.iv[:]).CryptBlocks(data, data)
	content, ok := aesUnpad(data)
	if !ok {
		return nil, fmt.Errorf("%w: padding is invalid (wrong EncodingAESKey?)", ErrDecrypt)
	}
	if len(content) < aesHeaderLen {
		return nil, fmt.Errorf("%w: plaintext is %d bytes, shorter than its %d-byte header", ErrDecrypt, len(content), aesHeaderLen)
	}
	n := uint64(binary.BigEndian.Uint32(content[aesRandomLen:aesHeaderLen]))
	rest := content[aesHeaderLen:]
	if n > uint64(len(rest)) {
		return nil, fmt.Errorf("%w: length field says %d bytes, only %d follow", ErrDecrypt, n, len(rest))
	}
	msg, appID := rest[:n], rest[n:]
	if string(appID) != c.appID {
		if len(appID) > aesErrAppIDMax {
			appID = appID[:aesErrAppIDMax]
		}
		return nil, fmt.Errorf("%w: it names %q, this account is %q", ErrAppID, appID, c.appID)
	}
	return msg, nil
}

// Encrypt encrypts msg for a safe-mode reply with the given 16 random
// bytes and returns it in base64. Use EncryptMessage, which draws fresh
// random bytes: Encrypt exists for test vectors.
func (c *Cipher) Encrypt(msg, random []byte) (string, error) {
	if c == nil || c.keys == nil {
		return "", errors.New("encrypt: no cipher")
	}
	if len(random) != aesRandomLen {
		return "", fmt.Errorf("encrypt: random prefix is %d bytes, want %d", len(random), aesRandomLen)
	}
	if uint64(len(msg)) > math.MaxUint32 {
		return "", fmt.Errorf("encrypt: message is %d bytes, more than a 32-bit length", len(msg))
	}
	size := aesHeaderLen + len(msg) + len(c.appID)
	pad := aesPadBlock - size%aesPadBlock // 1..32: a full block when size is a multiple
	buf := make([]byte, 0, size+pad)
	buf = append(buf, random...)
	buf = binary.BigEndian.AppendUint32(buf, uint32(len(msg)))
	buf = append(buf, msg...)
	buf = append(buf, c.appID...)
	for range pad {
		buf = append(buf, byte(pad))
	}
	cipher.NewCBCEncrypter(c.keys.block, c.keys.iv[:]).CryptBlocks(buf, buf)
	return base64.StdEncoding.EncodeToString(buf), nil
}

// EncryptMessage encrypts msg for a safe-mode reply with 16 random bytes
// from crypto/rand and returns it in base64.
func (c *Cipher) EncryptMessage(msg []byte) (string, error) {
	random := make([]byte, aesRandomLen)
	if _, err := rand.Read(random); err != nil {
		return "", fmt.Errorf("encrypt: random bytes: %w", err)
	}
	return c.Encrypt(msg, random)
}

// aesUnpad removes WeChat's PKCS#7 padding (values 1..32, every pad byte
// equal to the value). It looks at the same bytes whatever the padding, so
// its time says nothing of where the padding went wrong.
func aesUnpad(b []byte) ([]byte, bool) {
	n := len(b)
	if n == 0 {
		return nil, false
	}
	pad := int(b[n-1])
	good := subtle.ConstantTimeLessOrEq(1, pad) &
		subtle.ConstantTimeLessOrEq(pad, aesPadBlock) &
		subtle.ConstantTimeLessOrEq(pad, n)
	for i := 1; i <= aesPadBlock && i <= n; i++ {
		inPad := subtle.ConstantTimeLessOrEq(i, pad)
		same := subtle.ConstantTimeByteEq(b[n-i], byte(pad))
		good &= same | (inPad ^ 1)
	}
	if good != 1 {
		return nil, false
	}
	return b[:n-pad], true
}
