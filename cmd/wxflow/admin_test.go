package main

import (
	"bytes"
	"context"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/channels/wechat/wechattest"
)

// The credentials of the admin tests' accounts. They reach the config
// through ${ENV} references and must never be printed.
const (
	admAppID   = "wx00adm00test0main"
	admSecret  = "admS3cret0f0the0main0account0xyz"
	admToken   = "admCallbackTok3n"
	admAppID2  = "wx00adm00test0shop"
	admSecret2 = "admS3cret0f0the0shop0account0xyz"
)

// admMenu is a valid menu.yaml: a group of a click and a link, and a
// click.
const admMenu = `menu:
  - name: Products
    items:
      - { name: New arrivals, key: MENU_NEW }
      - { name: Shop online, url: "https://shop.example.com/?a=1&b=2" }
  - { name: Help, key: MENU_HELP }
`

// admMenuJSON is admMenu as WeChat's menu/create receives it.
const admMenuJSON = `{"button":[{"name":"Products","sub_button":[{"type":"click","name":"New arrivals","key":"MENU_NEW"},{"type":"view","name":"Shop online","url":"https://shop.example.com/?a=1&b=2"}]},{"type":"click","name":"Help","key":"MENU_HELP"}]}`

// admBundle is a config folder whose accounts call a fake WeChat API.
type admBundle struct {
	fake   *wechattest.Server
	dir    string
	config string
	// outputs collects everything the commands printed, for the secret
	// checks.
	outputs []string
}

// admSetup writes a config in a temporary folder: account main (and shop
// when two is set) calling a fake WeChat API, the database and flows/
// with menu beside it. The secrets come from the environment, so the test
// cannot run in parallel.
func admSetup(t *testing.T, menu string, two bool) *admBundle {
	t.Helper()
	fake := wechattest.NewServer()
	t.Cleanup(fake.Close)
	fake.AddApp(admAppID, admSecret)
	fake.AddApp(admAppID2, admSecret2)
	t.Setenv("WXFLOW_ADM_SECRET", admSecret)
	t.Setenv("WXFLOW_ADM_SECRET2", admSecret2)
	t.Setenv("WXFLOW_ADM_TOKEN", admToken)

	dir := t.TempDir()
	cfg := `database: wxflow.db
flows: flows
accounts:
  - id: main
    app_id: ` + admAppID + `
    app_secret: ${WXFLOW_ADM_SECRET}
    token: ${WXFLOW_ADM_TOKEN}
    api_base: ` + fake.URL() + `
`
	if two {
		cfg += `  - id: shop
    app_id: ` + admAppID2 + `
    app_secret: ${WXFLOW_ADM_SECRET2}
    token: ${WXFLOW_ADM_TOKEN}
    api_base: ` + fake.URL() + `/
    token_mode: classic
`
	}
	if err := os.MkdirAll(filepath.Join(dir, "flows"), 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"wxflow.yaml": cfg}
	if menu != "" {
		files[filepath.Join("flows", "menu.yaml")] = menu
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b := &admBundle{fake: fake, dir: dir, config: filepath.Join(dir, "wxflow.yaml")}
	t.Cleanup(func() { b.noSecrets(t) })
	return b
}

// admResult is what one command printed and its exit code.
type admResult struct {
	code           int
	stdout, stderr string
}

// run runs `wxflow ARGS... --config CONFIG`, or `wxflow ARGS...` when
// ARGS has its own --config.
func (b *admBundle) run(t *testing.T, args ...string) admResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if !slices.Contains(args, "--config") {
		args = append(args, "--config", b.config)
	}
	code := run(context.Background(), args, &stdout, &stderr)
	b.outputs = append(b.outputs, stdout.String(), stderr.String())
	return admResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// noSecrets fails when any output showed a secret or the callback token.
func (b *admBundle) noSecrets(t *testing.T) {
	t.Helper()
	for _, out := range b.outputs {
		for _, secret := range []string{admSecret, admSecret2, admToken} {
			if strings.Contains(out, secret) {
				t.Errorf("a command printed a secret:\n%s", out)
			}
		}
		for _, tok := range []string{b.fake.CurrentToken(admAppID), b.fake.CurrentToken(admAppID2)} {
			if tok != "" && strings.Contains(out, tok) {
				t.Errorf("a command printed an access token:\n%s", out)
			}
		}
	}
}

// admWant fails unless r exited with code.
func admWant(t *testing.T, r admResult, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// admNoCalls fails when the fake API got any request.
func admNoCalls(t *testing.T, b *admBundle) {
	t.Helper()
	for _, p := range []string{wechattest.PathToken, wechattest.PathStableToken, wechattest.PathMenu, wechattest.PathQRCode} {
		if n := b.fake.Calls(p); n != 0 {
			t.Errorf("%d requests to %s, want none", n, p)
		}
	}
}

func TestAdminMenuPush(t *testing.T) {
	b := admSetup(t, admMenu, false)
	r := b.run(t, "menu", "push")
	admWant(t, r, exitOK)
	if r.stdout != "menu published to main (2 buttons)\n" || r.stderr != "" {
		t.Errorf("stdout %q, stderr %q", r.stdout, r.stderr)
	}
	menus := b.fake.Menus()
	if len(menus) != 1 || menus[0].AppID != admAppID || string(menus[0].Body) != admMenuJSON {
		t.Fatalf("menus %+v\nwant one for %s: %s", menus, admAppID, admMenuJSON)
	}
	if n := b.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches, want 1", n)
	}
}

func TestAdminMenuPushEveryAccount(t *testing.T) {
	b := admSetup(t, admMenu, true)
	r := b.run(t, "menu", "push")
	admWant(t, r, exitOK)
	if r.stdout != "menu published to main (2 buttons)\nmenu published to shop (2 buttons)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	menus := b.fake.Menus()
	if len(menus) != 2 || menus[0].AppID != admAppID || menus[1].AppID != admAppID2 {
		t.Fatalf("menus %+v, want main's then shop's", menus)
	}
	for _, m := range menus {
		if string(m.Body) != admMenuJSON {
			t.Errorf("%s got %s\nwant %s", m.AppID, m.Body, admMenuJSON)
		}
	}
	// shop's token is classic, main's stable.
	if stable, classic := b.fake.Calls(wechattest.PathStableToken), b.fake.Calls(wechattest.PathToken); stable != 1 || classic != 1 {
		t.Errorf("%d stable_token and %d token requests, want 1 and 1", stable, classic)
	}

	// --account publishes to that account only.
	r = b.run(t, "menu", "push", "--account", "shop")
	admWant(t, r, exitOK)
	if r.stdout != "menu published to shop (2 buttons)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
	if menus := b.fake.Menus(); len(menus) != 3 || menus[2].AppID != admAppID2 {
		t.Errorf("menus %+v, want a third, for shop", menus)
	}
}

func TestAdminMenuPushInvalidMenu(t *testing.T) {
	tests := []struct {
		name string
		menu string
		want string
	}{
		{
			name: "four buttons",
			menu: "menu:\n  - { name: A, key: A }\n  - { name: B, key: B }\n  - { name: C, key: C }\n  - { name: D, key: D }\n",
			want: "the menu has 4 buttons",
		},
		{
			name: "button with neither key, url nor items",
			menu: "menu:\n  - { name: Help }\n",
			want: "menu.yaml:2:",
		},
		{
			name: "not YAML",
			menu: "menu:\n\t- { name: Help, key: HELP }\n",
			want: "menu.yaml:2:",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := admSetup(t, tt.menu, false)
			r := b.run(t, "menu", "push")
			admWant(t, r, exitProblems)
			if !strings.Contains(r.stderr, tt.want) || !strings.Contains(r.stderr, "menu.yaml has errors; nothing was published") {
				t.Errorf("stderr does not say %q and that nothing was published:\n%s", tt.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			admNoCalls(t, b)
		})
	}
}

func TestAdminMenuPushUsage(t *testing.T) {
	b := admSetup(t, admMenu, false)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown account", []string{"menu", "push", "--account", "nope"}, `no account "nope" in ` + b.config + ` (accounts: main)`},
		{"no subcommand", []string{"menu"}, "usage: wxflow menu push"},
		{"unknown subcommand", []string{"menu", "pull"}, "usage: wxflow menu push"},
		{"unknown flag", []string{"menu", "push", "--acount", "main"}, "flag provided but not defined: -acount"},
		{"missing config", []string{"menu", "push", "--config", filepath.Join(b.dir, "nothere.yaml")}, "nothere.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.run(t, tt.args...)
			admWant(t, r, exitUsage)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
			admNoCalls(t, b)
		})
	}

	// A menu.yaml that is not there is a usage error too.
	nomenu := admSetup(t, "", false)
	r := nomenu.run(t, "menu", "push")
	admWant(t, r, exitUsage)
	if !strings.Contains(r.stderr, "menu.yaml") {
		t.Errorf("stderr does not name menu.yaml:\n%s", r.stderr)
	}
	admNoCalls(t, nomenu)
}

// admQR returns the ticket and image lines of qrcode's output.
func admQR(t *testing.T, stdout string) (ticket, image string) {
	t.Helper()
	for _, line := range strings.Split(stdout, "\n") {
		if v, ok := strings.CutPrefix(line, "ticket: "); ok {
			ticket = v
		}
		if v, ok := strings.CutPrefix(line, "image:  "); ok {
			image = v
		}
	}
	if ticket == "" || image == "" {
		t.Fatalf("no ticket or image line in\n%s", stdout)
	}
	return ticket, image
}

func TestQRCodeCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		body    string
		expires string
	}{
		{
			name:    "temporary, 7 days by default",
			args:    nil,
			body:    `{"expire_seconds":604800,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"store_1"}}}`,
			expires: "expires in 168h0m0s\n",
		},
		{
			name:    "temporary, 3 days",
			args:    []string{"--expires", "3d"},
			body:    `{"expire_seconds":259200,"action_name":"QR_STR_SCENE","action_info":{"scene":{"scene_str":"store_1"}}}`,
			expires: "expires in 72h0m0s\n",
		},
		{
			name:    "permanent",
			args:    []string{"--permanent"},
			body:    `{"action_name":"QR_LIMIT_STR_SCENE","action_info":{"scene":{"scene_str":"store_1"}}}`,
			expires: "permanent\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := admSetup(t, "", false)
			r := b.run(t, append([]string{"qrcode", "--account", "main", "--scene", "store_1"}, tt.args...)...)
			admWant(t, r, exitOK)
			ticket, image := admQR(t, r.stdout)
			// The fake's tickets hold + / and =, which the URL escapes.
			if !strings.ContainsAny(ticket, "+/=") {
				t.Fatalf("ticket %q has nothing to escape; the test needs it", ticket)
			}
			if want := "https://mp.weixin.qq.com/cgi-bin/showqrcode?ticket=" + url.QueryEscape(ticket); image != want {
				t.Errorf("image %q, want %q", image, want)
			}
			if !strings.HasSuffix(r.stdout, tt.expires) {
				t.Errorf("stdout does not end with %q:\n%s", tt.expires, r.stdout)
			}
			qrs := b.fake.QRCodes()
			if len(qrs) != 1 || qrs[0].AppID != admAppID || string(qrs[0].Body) != tt.body {
				t.Errorf("QR requests %+v\nwant one for %s: %s", qrs, admAppID, tt.body)
			}
		})
	}
}

// TestQRCodeCommandNoExpiryInAnswer: a temporary code is said to expire
// in what was requested when WeChat's answer has no expire_seconds;
// before, it was printed as permanent.
func TestQRCodeCommandNoExpiryInAnswer(t *testing.T) {
	for _, tt := range []struct {
		args    []string
		expires string
	}{
		{nil, "expires in 168h0m0s\n"},
		{[]string{"--expires", "3d"}, "expires in 72h0m0s\n"},
		{[]string{"--permanent"}, "permanent\n"},
	} {
		b := admSetup(t, "", false)
		b.fake.OmitQRExpiry()
		r := b.run(t, append([]string{"qrcode", "--account", "main", "--scene", "store_1"}, tt.args...)...)
		admWant(t, r, exitOK)
		if !strings.HasSuffix(r.stdout, tt.expires) || strings.Contains(r.stdout, "permanent") != (tt.expires == "permanent\n") {
			t.Errorf("%v: stdout does not end with %q:\n%s", tt.args, tt.expires, r.stdout)
		}
	}
}

// TestAdminMenuPushOneButton: one button is said in the singular.
func TestAdminMenuPushOneButton(t *testing.T) {
	b := admSetup(t, "menu:\n  - { name: Help, key: MENU_HELP }\n", false)
	r := b.run(t, "menu", "push")
	admWant(t, r, exitOK)
	if r.stdout != "menu published to main (1 button)\n" {
		t.Errorf("stdout %q", r.stdout)
	}
}

func TestQRCodeCommandUsage(t *testing.T) {
	b := admSetup(t, "", false)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"expires and permanent", []string{"--account", "main", "--scene", "s", "--expires", "3d", "--permanent"}, "--expires and --permanent exclude each other"},
		{"no account", []string{"--scene", "s"}, "wxflow qrcode: --account is missing"},
		{"no scene", []string{"--account", "main"}, "wxflow qrcode: --scene is missing"},
		{"nothing", nil, "wxflow qrcode: --account is missing"},
		{"unknown account", []string{"--account", "nope", "--scene", "s"}, `no account "nope"`},
		{"expires not a duration", []string{"--account", "main", "--scene", "s", "--expires", "soon"}, `--expires "soon" is not a duration`},
		{"expires zero", []string{"--account", "main", "--scene", "s", "--expires", "0"}, `--expires "0" is not a duration`},
		{"expires over 30 days", []string{"--account", "main", "--scene", "s", "--expires", "31d"}, "60s to 30d"},
		{"expires under a minute", []string{"--account", "main", "--scene", "s", "--expires", "30s"}, "60s to 30d"},
		{"scene too long", []string{"--account", "main", "--scene", strings.Repeat("s", 65)}, "1 to 64 characters"},
		{"extra argument", []string{"--account", "main", "--scene", "s", "more"}, `unexpected argument "more"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := b.run(t, append([]string{"qrcode"}, tt.args...)...)
			admWant(t, r, exitUsage)
			if !strings.Contains(r.stderr, tt.want) {
				t.Errorf("stderr does not say %q:\n%s", tt.want, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout %q, want nothing", r.stdout)
			}
			admNoCalls(t, b)
		})
	}
}

// TestAdminReusesStoredToken checks that a second command takes the access
// token the first saved in the database instead of fetching another (a new
// one would invalidate serve's).
func TestAdminReusesStoredToken(t *testing.T) {
	b := admSetup(t, admMenu, false)
	b.fake.StrictTokens()
	admWant(t, b.run(t, "menu", "push"), exitOK)
	first := b.fake.CurrentToken(admAppID)
	admWant(t, b.run(t, "qrcode", "--account", "main", "--scene", "store_1"), exitOK)
	admWant(t, b.run(t, "menu", "push", "--account", "main"), exitOK)
	if n := b.fake.TokenFetches(); n != 1 {
		t.Errorf("%d token fetches over three commands, want 1", n)
	}
	if b.fake.CurrentToken(admAppID) != first {
		t.Error("the token changed")
	}
	if len(b.fake.Menus()) != 2 || len(b.fake.QRCodes()) != 1 {
		t.Errorf("%d menus and %d QR codes, want 2 and 1", len(b.fake.Menus()), len(b.fake.QRCodes()))
	}
}

// TestAdminAPIErrors checks failures WeChat answers: exit 1, the error
// shown, no secret.
func TestAdminAPIErrors(t *testing.T) {
	t.Run("menu refused", func(t *testing.T) {
		b := admSetup(t, admMenu, false)
		b.fake.FailNext(wechattest.PathMenu, 40016)
		r := b.run(t, "menu", "push")
		admWant(t, r, exitProblems)
		if !strings.Contains(r.stderr, "account main") || !strings.Contains(r.stderr, "errcode 40016") {
			t.Errorf("stderr does not name the account and the errcode:\n%s", r.stderr)
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})
	t.Run("wrong secret", func(t *testing.T) {
		b := admSetup(t, admMenu, false)
		b.fake.AddApp(admAppID, "the0real0secret0is0another0one00")
		r := b.run(t, "qrcode", "--account", "main", "--scene", "store_1")
		admWant(t, r, exitProblems)
		if !strings.Contains(r.stderr, "40125") {
			t.Errorf("stderr does not give the errcode 40125:\n%s", r.stderr)
		}
		if len(b.fake.QRCodes()) != 0 {
			t.Error("a QR code was created")
		}
	})
	t.Run("QR code refused", func(t *testing.T) {
		b := admSetup(t, "", false)
		b.fake.FailNext(wechattest.PathQRCode, 48001)
		r := b.run(t, "qrcode", "--account", "main", "--scene", "store_1")
		admWant(t, r, exitProblems)
		if !strings.Contains(r.stderr, "errcode 48001") || r.stdout != "" {
			t.Errorf("stdout %q, stderr:\n%s", r.stdout, r.stderr)
		}
	})
}
