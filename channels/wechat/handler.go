package wechat

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/wxflow/wxflow/channels"
)

// Sink takes the events the callback endpoint accepts: the engine.
type Sink interface {
	// Ingest stores an event durably; it returns after the commit, or
	// with ctx's error once ctx ends (StoreWait after the callback came):
	// the event is then not acknowledged, and WeChat's retry is deduped
	// should it be stored after all.
	Ingest(ctx context.Context, ev channels.Event) error
	// IngestReply stores an event like Ingest and returns the message to
	// give as the passive reply, if one is ready before deadline (nil
	// otherwise). The caller calls done once the answer was written
	// (written true), or when WeChat cannot have it (it could not be
	// rendered or written, or it was ready after WeChat stopped
	// waiting): the Sink then sends the message by the API. A retry of
	// the same callback may be given the same reply again.
	IngestReply(ctx context.Context, ev channels.Event, deadline time.Time) (msg *channels.Message, done func(written bool), err error)
}

// ErrRejected marks a Sink error that is the event's fault (the handler
// answers 400), as opposed to the server's (500, so WeChat retries).
var ErrRejected = errors.New("event rejected")

// CallbackAccount is what the callback endpoint knows of one account.
type CallbackAccount struct {
	// ID is the account's id in wxflow's configuration: the callback URL
	// is /wechat/{ID}.
	ID string
	// Token is the token set in WeChat's admin console.
	Token string
	// Cipher decrypts safe and compatible mode callbacks (nil: plain mode
	// only); Previous is the key in use before a rotation, tried when
	// Cipher fails.
	Cipher, Previous *Cipher
	// OriginalID is the account's gh_ id; when set, callbacks for another
	// account are refused (when not, those for the OriginalID of another
	// account of the Handler). Passive replies come from it (or from the
	// callback's ToUserName).
	OriginalID string
	// PassiveReply lets a flow's first message be the callback's answer.
	PassiveReply bool
}

// HandlerConfig configures the callback endpoint.
type HandlerConfig struct {
	// Accounts by ID.
	Accounts map[string]*CallbackAccount
	// Sink receives the events (required).
	Sink Sink
	// Clock checks callback timestamps (default: the system clock).
	Clock Clock
	// Logger gets one line per rejected callback, at most RejectLogLimit
	// a minute for each account and kind of rejection (default:
	// discarded).
	Logger *slog.Logger
	// RejectLogLimit is how many rejections of one account and kind are
	// logged a minute (default 10; negative: all of them). The others
	// are counted, and one line says how many when their minute is over.
	RejectLogLimit int
	// MaxBody is the largest body accepted (default 1 MB).
	MaxBody int64
	// TimestampTolerance is how far a callback's timestamp may be from
	// now (0: not checked).
	TimestampTolerance time.Duration
	// PassiveReplyWait is how long after a callback arrives a passive
	// reply may still be decided (default 1s).
	PassiveReplyWait time.Duration
	// StoreWait is how long a callback waits for the Sink to store its
	// event before it is answered 503 (default 4.5 s, within the 5 s
	// WeChat waits): a stalled database gets WeChat's retry, or a load
	// balancer's try on another node, rather than a hang.
	StoreWait time.Duration
	// Observe, when set, is told the outcome of every callback: the
	// account ("" when the URL names no configured account: the sender
	// chooses it), the event kind ("" when refused before the event was
	// read; set when the Sink refused or did not store it), the HTTP
	// status and how long the answer took.
	Observe func(account string, kind channels.Kind, status int, took time.Duration)
}

// DefaultMaxBody is the largest callback body accepted by default.
const DefaultMaxBody = 1 << 20

// Handler is the callback endpoint: GET and POST /wechat/{account}.
type Handler struct {
	cfg     HandlerConfig
	log     *slog.Logger
	rejects *rejectLog
	// owners are the accounts by their original_id, for those that set
	// one: a callback whose ToUserName is one of them is that account's
	// only, also at the URL of an account without original_id.
	owners map[string]string
}

// NewHandler returns the callback endpoint.
func NewHandler(cfg HandlerConfig) *Handler {
	if cfg.Clock == nil {
		cfg.Clock = apiSystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.PassiveReplyWait <= 0 {
		cfg.PassiveReplyWait = time.Second
	}
	if cfg.StoreWait <= 0 {
		cfg.StoreWait = replyDeadline
	}
	owners := map[string]string{}
	for id, acc := range cfg.Accounts {
		if acc != nil && acc.OriginalID != "" {
			owners[acc.OriginalID] = id
		}
	}
	return &Handler{cfg: cfg, log: cfg.Logger, rejects: newRejectLog(cfg.Logger, cfg.Clock, cfg.RejectLogLimit), owners: owners}
}

// Prefix is the path the callback endpoint serves under.
const Prefix = "/wechat/"

// callbackError is a rejection: the status, the check that failed (what
// the log's rate limit counts by) and the reason logged.
type callbackError struct {
	status int
	check  string
	reason string
}

// The checks a callback can fail, as callbackError.check.
const (
	checkAccount    = "account"
	checkMethod     = "method"
	checkSignature  = "signature"
	checkTimestamp  = "timestamp"
	checkEcho       = "echostr"
	checkBody       = "body"
	checkXML        = "xml"
	checkEncryption = "encryption"
	checkDecrypt    = "decrypt"
	checkFields     = "fields"
	checkRecipient  = "recipient"
	checkEvent      = "event"
	checkStore      = "store"
)

func reject(status int, check, reason string) *callbackError {
	return &callbackError{status: status, check: check, reason: reason}
}

// handlerMaxLoggedID is how much of an unknown account's id the log shows.
const handlerMaxLoggedID = 64

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := strings.TrimPrefix(r.URL.Path, Prefix)
	// The account rejections are counted and observed by: an id that
	// names no account is the sender's choice, and shares "".
	account := id
	if _, ok := h.cfg.Accounts[id]; !ok || strings.Contains(id, "/") {
		account = ""
	}
	kind, status, cerr := h.serve(w, r, id)
	if cerr != nil {
		status = cerr.status
		shown := id
		if len(shown) > handlerMaxLoggedID {
			shown = shown[:handlerMaxLoggedID] + "..."
		}
		h.rejects.warn(rejectKey{account: account, check: cerr.check},
			rejectLine{account: shown, status: cerr.status, reason: cerr.reason, remote: r.RemoteAddr})
		http.Error(w, http.StatusText(cerr.status), cerr.status)
	} else {
		h.rejects.flush()
	}
	if h.cfg.Observe != nil {
		h.cfg.Observe(account, kind, status, time.Since(start))
	}
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, id string) (channels.Kind, int, *callbackError) {
	acc, ok := h.cfg.Accounts[id]
	if !ok || strings.Contains(id, "/") {
		return "", 0, reject(http.StatusBadRequest, checkAccount, "unknown account")
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		return "", 0, reject(http.StatusMethodNotAllowed, checkMethod, "method "+callbackXMLQuote(r.Method))
	}
	q := r.URL.Query()
	timestamp, nonce := q.Get("timestamp"), q.Get("nonce")
	sig := q.Get("signature")
	if sig == "" || timestamp == "" || nonce == "" {
		return "", 0, reject(http.StatusForbidden, checkSignature, "missing signature, timestamp or nonce")
	}
	if !VerifySignature(sig, acc.Token, timestamp, nonce) {
		return "", 0, reject(http.StatusForbidden, checkSignature, "bad signature")
	}
	if cerr := h.checkTimestamp(timestamp); cerr != nil {
		return "", 0, cerr
	}
	if r.Method == http.MethodGet {
		echo := q.Get("echostr")
		if echo == "" {
			return "", 0, reject(http.StatusBadRequest, checkEcho, "URL check without echostr")
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, echo)
		return "", http.StatusOK, nil
	}
	body, cerr := h.readBody(w, r)
	if cerr != nil {
		return "", 0, cerr
	}
	cb, err := ParseCallback(body)
	if err != nil {
		return "", 0, reject(http.StatusBadRequest, checkXML, err.Error())
	}
	// replyCipher encrypts the passive reply: the key that decrypted the
	// callback (WeChat's rule during a key rotation), nil in plain mode.
	var replyCipher *Cipher
	switch {
	case q.Get("encrypt_type") == "aes" && acc.Cipher == nil && cb.FromUserName != "":
		// Compatible mode on an account without an aes_key: the plain
		// fields are read, as in plain mode (the way from plain to safe
		// mode goes through it).
	case q.Get("encrypt_type") == "aes":
		if cb, replyCipher, cerr = h.decrypt(acc, cb, q.Get("msg_signature"), timestamp, nonce); cerr != nil {
			return "", 0, cerr
		}
	case acc.Cipher != nil:
		// The plain signature does not cover the body: an account with
		// an aes_key takes only callbacks whose msg_signature does.
		return "", 0, reject(http.StatusForbidden, checkEncryption, "plain callback for an account with an aes_key (set WeChat's encryption mode to compatible or safe, or remove aes_key)")
	}
	if cb.FromUserName == "" || cb.MsgType == "" {
		return "", 0, reject(http.StatusBadRequest, checkFields, "callback without FromUserName or MsgType")
	}
	if cb.CreateTime == 0 {
		// WeChat stamps every callback. Without it the event's time
		// read as 1970, and the dedupe key made of it took every later
		// such event of the contact for a retry of the first.
		return "", 0, reject(http.StatusBadRequest, checkFields, "callback without CreateTime")
	}
	if !validOpenID(cb.FromUserName) {
		// An OpenID is letters, digits, _ and -. Another character (a
		// | in particular, which separates the store's keys) would let
		// one contact's events be read as another's.
		return "", 0, reject(http.StatusBadRequest, checkFields, "FromUserName "+strconv.Quote(callbackXMLQuote(cb.FromUserName))+" is not an OpenID (letters, digits, _ and -)")
	}
	if acc.OriginalID != "" && cb.ToUserName != acc.OriginalID {
		return "", 0, reject(http.StatusBadRequest, checkRecipient, "callback for another account (ToUserName "+cb.ToUserName+")")
	}
	if owner, ok := h.owners[cb.ToUserName]; ok && acc.OriginalID == "" && owner != acc.ID {
		// An account without original_id takes any ToUserName, but not
		// another account's: its admin console has this account's URL
		// (and the same token), and its followers would become this
		// account's contacts, answered with this account's token.
		return "", 0, reject(http.StatusBadRequest, checkRecipient, "callback for account "+owner+" (ToUserName "+cb.ToUserName+"): its admin console has this account's URL")
	}
	ev := cb.Event(acc.ID)
	if !acc.PassiveReply {
		// WeChat waits 5 seconds: a store that has not answered by then
		// (a database that stalls) gets a 503 first, which a load
		// balancer may try on another node, rather than a hang.
		ctx, cancel := context.WithTimeout(r.Context(), h.cfg.StoreWait)
		defer cancel()
		if err := h.cfg.Sink.Ingest(ctx, ev); err != nil {
			return ev.Kind, 0, h.sinkError(err)
		}
		success(w)
		return ev.Kind, http.StatusOK, nil
	}
	asked := h.cfg.Clock.Now()
	// WeChat hanging up does not stop the event from being stored and
	// its reply decided: a retry then finds both.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), replyDeadline)
	defer cancel()
	type answer struct {
		msg  *channels.Message
		done func(bool)
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		msg, done, err := h.cfg.Sink.IngestReply(ctx, ev, asked.Add(h.cfg.PassiveReplyWait))
		got <- answer{msg, done, err}
	}()
	wait := time.NewTimer(h.cfg.StoreWait)
	defer wait.Stop()
	var a answer
	select {
	case a = <-got:
	case <-wait.C:
		// The store does not answer: 503, as for a callback without
		// passive replies. A reply the Sink decides later reaches
		// WeChat by the API (done(false)).
		go func() {
			if a := <-got; a.done != nil {
				a.done(false)
			}
		}()
		return ev.Kind, 0, h.sinkError(context.DeadlineExceeded)
	}
	msg, done, err := a.msg, a.done, a.err
	if err != nil {
		return ev.Kind, 0, h.sinkError(err)
	}
	if msg == nil {
		success(w)
		return ev.Kind, http.StatusOK, nil
	}
	written := false
	if h.cfg.Clock.Now().Sub(asked) < replyDeadline {
		written = h.writeReply(w, acc, cb, msg, replyCipher)
	} else {
		// WeChat stopped waiting: an answer now reaches nobody, and the
		// Sink sends the message by the API instead.
		success(w)
	}
	if done != nil {
		done(written)
	}
	return ev.Kind, http.StatusOK, nil
}

// validOpenID reports whether id has an OpenID's characters: letters,
// digits, _ and - (ParseCallback has bounded its length).
func validOpenID(id string) bool {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return id != ""
}

// replyDeadline is how long after a callback arrives its passive reply
// may still be written: WeChat waits 5 seconds from sending it, and half a
// second is left for the network. A reply ready later goes by the API.
const replyDeadline = 4500 * time.Millisecond

// checkTimestamp refuses a callback whose timestamp is too far from now:
// a replay of an old callback, or a forged one.
func (h *Handler) checkTimestamp(timestamp string) *callbackError {
	if h.cfg.TimestampTolerance <= 0 {
		return nil
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return reject(http.StatusForbidden, checkTimestamp, "timestamp is not a number")
	}
	// In whole seconds, compared before any Duration is made: a time
	// centuries away saturated Sub, and its negation overflowed past the
	// check.
	now, tol := h.cfg.Clock.Now().Unix(), int64(h.cfg.TimestampTolerance/time.Second)
	if ts >= now-tol && ts <= now+tol {
		return nil
	}
	const year = 366 * 24 * 3600
	when, off := "old", "more than a year"
	if ts > now {
		when = "in the future"
	}
	switch {
	case ts < now && ts > now-year:
		off = (time.Duration(now-ts) * time.Second).String()
	case ts > now && ts < now+year:
		off = (time.Duration(ts-now) * time.Second).String()
	}
	return reject(http.StatusForbidden, checkTimestamp, "timestamp is "+off+" "+when+", more than "+h.cfg.TimestampTolerance.String())
}

// readBody reads at most MaxBody bytes.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *callbackError) {
	if r.ContentLength > h.cfg.MaxBody {
		return nil, reject(http.StatusRequestEntityTooLarge, checkBody, "body of "+strconv.FormatInt(r.ContentLength, 10)+" bytes")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.cfg.MaxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, reject(http.StatusRequestEntityTooLarge, checkBody, "body over "+strconv.FormatInt(h.cfg.MaxBody, 10)+" bytes")
		}
		return nil, reject(http.StatusBadRequest, checkBody, "reading the body: "+err.Error())
	}
	return body, nil
}

// decrypt checks msg_signature over the Encrypt field and decrypts it,
// with the previous key when the current one fails. It returns the cipher
// that decrypted it: the reply goes out encrypted with the same key.
func (h *Handler) decrypt(acc *CallbackAccount, outer *Callback, msgSig, timestamp, nonce string) (*Callback, *Cipher, *callbackError) {
	if acc.Cipher == nil {
		return nil, nil, reject(http.StatusBadRequest, checkEncryption, "encrypted callback, but the account has no aes_key")
	}
	if outer.Encrypt == "" {
		return nil, nil, reject(http.StatusBadRequest, checkEncryption, "encrypted callback without Encrypt")
	}
	if msgSig == "" || !VerifySignature(msgSig, acc.Token, timestamp, nonce, outer.Encrypt) {
		return nil, nil, reject(http.StatusForbidden, checkSignature, "bad msg_signature")
	}
	used := acc.Cipher
	plain, err := acc.Cipher.Decrypt(outer.Encrypt)
	if err != nil && acc.Previous != nil {
		var err2 error
		if plain, err2 = acc.Previous.Decrypt(outer.Encrypt); err2 == nil {
			err, used = nil, acc.Previous
		}
	}
	if err != nil {
		return nil, nil, reject(http.StatusBadRequest, checkDecrypt, err.Error())
	}
	cb, err := ParseCallback(plain)
	if err != nil {
		return nil, nil, reject(http.StatusBadRequest, checkXML, "decrypted body: "+err.Error())
	}
	if outer.ToUserName != "" && cb.ToUserName != outer.ToUserName {
		return nil, nil, reject(http.StatusBadRequest, checkRecipient, "ToUserName differs inside and outside the encryption")
	}
	return cb, used, nil
}

func (h *Handler) sinkError(err error) *callbackError {
	if errors.Is(err, ErrRejected) {
		return reject(http.StatusBadRequest, checkEvent, err.Error())
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return reject(http.StatusServiceUnavailable, checkStore, "gave up before the event was stored: "+err.Error())
	}
	// WeChat retries: the event is not acknowledged.
	return reject(http.StatusServiceUnavailable, checkStore, "storing the event: "+err.Error())
}

func success(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "success")
}

// writeReply answers with a passive reply, encrypted with c when the
// callback was encrypted (c is nil in plain mode). It reports whether the
// answer was written.
func (h *Handler) writeReply(w http.ResponseWriter, acc *CallbackAccount, cb *Callback, msg *channels.Message, c *Cipher) bool {
	from := acc.OriginalID
	if from == "" {
		from = cb.ToUserName
	}
	out, err := ReplyXML(cb.FromUserName, from, h.cfg.Clock.Now(), msg)
	if err == nil && c != nil {
		out, err = EncryptReply(c, acc.Token, out, strconv.FormatInt(h.cfg.Clock.Now().Unix(), 10), newNonce())
	}
	if err != nil {
		h.log.Error("passive reply", "account", acc.ID, "err", err)
		success(w)
		return false
	}
	w.Header().Set("Content-Type", "application/xml; charset=utf-8")
	// With its length set, the answer is complete once written and
	// flushed: "written" then means WeChat can read all of it, not a
	// chunked body that ends only when the handler returns.
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	if _, err := w.Write(out); err != nil {
		return false
	}
	if err := http.NewResponseController(w).Flush(); err != nil {
		return false
	}
	return true
}

// newNonce returns a random decimal nonce, as WeChat's own are.
func newNonce() string {
	var b [4]byte
	rand.Read(b[:])
	return strconv.FormatUint(uint64(binary.BigEndian.Uint32(b[:])), 10)
}
