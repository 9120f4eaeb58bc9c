package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/engine/wechatstate"
	"github.com/wxflow/wxflow/flows"
)

// apiAccounts opens what `menu push` and `qrcode` need to call WeChat's
// API for the configured accounts: the store (which keeps the access
// tokens serve uses, so these commands do not invalidate them) and a
// client per account.
type apiAccounts struct {
	cfg     *config.Config
	store   engine.Store
	clients map[string]*wechat.Client
}

func openAPIAccounts(ctx context.Context, cfgPath string) (*apiAccounts, int, error) {
	cfg, err := config.Load(cfgPath, os.LookupEnv)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, exitUsage, err
		}
		return nil, exitProblems, err
	}
	st, err := openAdminStore(ctx, cfg.Database)
	if err != nil {
		return nil, exitProblems, err
	}
	state := wechatstate.New(st, nil)
	a := &apiAccounts{cfg: cfg, store: st, clients: map[string]*wechat.Client{}}
	for _, acc := range cfg.Accounts {
		c, err := wechat.NewClient(wechat.ClientConfig{
			Account: acc.ID, AppID: acc.AppID, AppSecret: acc.AppSecret, APIBase: acc.APIBase, TokenMode: acc.TokenMode,
			Tokens: state, Media: state,
		})
		if err != nil {
			st.Close()
			return nil, exitProblems, fmt.Errorf("account %s: %w", acc.ID, err)
		}
		a.clients[acc.ID] = c
	}
	return a, exitOK, nil
}

// pick returns the clients of the named account, or of every account.
func (a *apiAccounts) pick(id string) (map[string]*wechat.Client, error) {
	if id == "" {
		return a.clients, nil
	}
	c, ok := a.clients[id]
	if !ok {
		var ids []string
		for _, acc := range a.cfg.Accounts {
			ids = append(ids, acc.ID)
		}
		return nil, fmt.Errorf("no account %q in %s (accounts: %s)", id, a.cfg.File, strings.Join(ids, ", "))
	}
	return map[string]*wechat.Client{id: c}, nil
}

// runMenu is `wxflow menu push [--config FILE] [--account ID]`.
func runMenu(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if isHelp(args) {
		// wxflow menu -h: push is menu's one subcommand; say its usage.
		args = []string{"push", "-h"}
	}
	if len(args) == 0 || args[0] != "push" {
		fmt.Fprintln(stderr, "usage: wxflow menu push [--config FILE] [--account ID]")
		return exitUsage
	}
	fl := flag.NewFlagSet("menu push", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "wxflow.yaml", "the configuration file")
	account := fl.String("account", "", "publish to this account only (default: every account)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow menu push [--config FILE] [--account ID]")
		fmt.Fprintln(w, "\nValidates menu.yaml in the flows folder and publishes it as the accounts' custom menu.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args[1:], stdout); !ok {
		return code
	}
	a, code, err := openAPIAccounts(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow menu push: %v\n", err)
		return code
	}
	defer a.store.Close()
	clients, err := a.pick(*account)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow menu push: %v\n", err)
		return exitUsage
	}
	file := filepath.Join(a.cfg.Flows, "menu.yaml")
	src, err := os.ReadFile(file)
	if errors.Is(err, fs.ErrNotExist) {
		if yml, yerr := os.ReadFile(filepath.Join(a.cfg.Flows, "menu.yml")); yerr == nil {
			file, src, err = filepath.Join(a.cfg.Flows, "menu.yml"), yml, nil
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "wxflow menu push: %v\n", err)
		return exitUsage
	}
	m, diags := flows.LoadMenu(file, src)
	for _, d := range diags {
		fmt.Fprintln(stderr, d.String())
	}
	if diags.HasErrors() {
		fmt.Fprintln(stderr, "wxflow menu push: menu.yaml has errors; nothing was published")
		return exitProblems
	}
	buttons := menuButtons(m.Buttons)
	failed := false
	for _, id := range slices.Sorted(maps.Keys(clients)) {
		if err := clients[id].CreateMenu(ctx, buttons); err != nil {
			fmt.Fprintf(stderr, "wxflow menu push: account %s: %v\n", id, err)
			failed = true
			continue
		}
		fmt.Fprintf(stdout, "menu published to %s (%d %s)\n", id, len(buttons), plural(len(buttons), "button"))
	}
	if failed {
		return exitProblems
	}
	return exitOK
}

// menuButtons converts menu.yaml's buttons to WeChat's.
func menuButtons(bs []*flows.MenuButton) []wechat.MenuButton {
	out := make([]wechat.MenuButton, 0, len(bs))
	for _, b := range bs {
		mb := wechat.MenuButton{Name: b.Name}
		switch {
		case len(b.Items) > 0:
			mb.SubButtons = menuButtons(b.Items)
		case b.Key != "":
			mb.Type, mb.Key = "click", b.Key
		default:
			mb.Type, mb.URL = "view", b.URL
		}
		out = append(out, mb)
	}
	return out
}

// qrcodeArgsMissing names the required flag qrcode was not given, or
// the argument it takes none of; "" when there is neither.
func qrcodeArgsMissing(account, scene string, args []string) string {
	switch {
	case account == "":
		return "--account is missing: the account whose code to create"
	case scene == "":
		return "--scene is missing: the scene a scan of the code carries"
	case len(args) > 0:
		return fmt.Sprintf("unexpected argument %q: qrcode takes flags only", args[0])
	}
	return ""
}

// runQRCode is `wxflow qrcode --account ID --scene STR [--expires 7d | --permanent]`.
func runQRCode(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("qrcode", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", "wxflow.yaml", "the configuration file")
	account := fl.String("account", "", "the account (required)")
	scene := fl.String("scene", "", "the scene a scan carries (1 to 64 characters; flows match it with a scan: trigger)")
	expires := fl.String("expires", "7d", "how long a temporary code lives (60s to 30d)")
	permanent := fl.Bool("permanent", false, "create a permanent code (at most 100,000 per account)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow qrcode --account ID --scene STR [--expires 7d | --permanent] [--config FILE]")
		fmt.Fprintln(w, "\nCreates a QR code with a scene and prints its ticket and image URL.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if msg := qrcodeArgsMissing(*account, *scene, fl.Args()); msg != "" {
		fmt.Fprintf(stderr, "wxflow qrcode: %s\n", msg)
		fmt.Fprintln(stderr, "usage: wxflow qrcode --account ID --scene STR [--expires 7d | --permanent] [--config FILE]")
		return exitUsage
	}
	if *permanent && flagGiven(fl, "expires") {
		fmt.Fprintln(stderr, "wxflow qrcode: --expires and --permanent exclude each other")
		return exitUsage
	}
	d, err := config.ParseDuration(*expires)
	if err != nil || d <= 0 {
		fmt.Fprintf(stderr, "wxflow qrcode: --expires %q is not a duration like 7d, 12h or 30m\n", *expires)
		return exitUsage
	}
	// Flag values WeChat would refuse are usage errors too, found before
	// the database is opened.
	if !*permanent && (d < wechat.QRMinExpiry || d > wechat.QRMaxExpiry) {
		fmt.Fprintf(stderr, "wxflow qrcode: --expires %s: a temporary code lives 60s to 30d\n", *expires)
		return exitUsage
	}
	if n := utf8.RuneCountInString(*scene); n > wechat.QRMaxScene {
		fmt.Fprintf(stderr, "wxflow qrcode: --scene is %d characters, WeChat accepts 1 to %d characters\n", n, wechat.QRMaxScene)
		return exitUsage
	}
	a, code, err := openAPIAccounts(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow qrcode: %v\n", err)
		return code
	}
	defer a.store.Close()
	clients, err := a.pick(*account)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow qrcode: %v\n", err)
		return exitUsage
	}
	qr, err := clients[*account].CreateQRCode(ctx, *scene, d, *permanent)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow qrcode: %v\n", err)
		return exitProblems
	}
	fmt.Fprintf(stdout, "ticket: %s\nimage:  %s\nurl:    %s\n", qr.Ticket, qr.ImageURL, qr.URL)
	// What was requested says which code it is, not the answer's
	// fields (an answer may lack expire_seconds).
	if qr.Permanent {
		fmt.Fprintln(stdout, "permanent")
	} else {
		fmt.Fprintf(stdout, "expires in %s\n", time.Duration(qr.ExpireSeconds)*time.Second)
	}
	return exitOK
}
