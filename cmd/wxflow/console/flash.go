package console

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
)

// flashKeys are the query keys of what a form's action says on the page
// it leads back to (the error, what was done or queued for another node,
// a refusal's reason, and what the form was given, to fill it again
// after an error).
var flashKeys = []string{"error", "done", "queued", "reason", "keep"}

// flashKeyOf is the key that signs the flash keys of a console with
// the admin token token: an HMAC of it, the same on every node serving
// that token (a form's POST and the GET it leads to may reach two nodes
// behind a load balancer, or one node before and after a restart), and
// telling nothing of the token. The open console (no token) has a key
// of its own.
func flashKeyOf(token string) []byte {
	if token == "" {
		return []byte(rand.Text())
	}
	return keyed(token, "wxflow console flash")
}

// flashMAC is the signature of q's flash keys under the console's key.
func (c *Console) flashMAC(q url.Values) string {
	m := hmac.New(sha256.New, c.flashKey)
	for _, k := range flashKeys {
		m.Write([]byte(k + "=" + q.Get(k) + "\x00"))
	}
	return hex.EncodeToString(m.Sum(nil)[:16])
}

// signFlash signs q's flash keys (sig), so that the page shows them: a
// link that carries its own error= cannot put words in the console's
// mouth (a fake "log in again at ..." in its red banner).
func (c *Console) signFlash(q url.Values) url.Values {
	q.Set("sig", c.flashMAC(q))
	return q
}

// flash returns the flash key k of the request's query when the console
// signed it, "" otherwise.
func (c *Console) flash(q url.Values, k string) string {
	if q.Get(k) == "" || !hmac.Equal([]byte(q.Get("sig")), []byte(c.flashMAC(q))) {
		return ""
	}
	return q.Get(k)
}

// kept is what a refused form was given (the flash key keep, a query),
// to fill the form again; empty when there is none or it is not signed.
func (c *Console) kept(q url.Values) url.Values {
	v, err := url.ParseQuery(c.flash(q, "keep"))
	if err != nil {
		return url.Values{}
	}
	return v
}
