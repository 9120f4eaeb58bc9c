package flows_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/wxflow/wxflow/flows"
)

// secretValue is the value of every secret in these tests: it must never
// come out of a template.
const secretValue = "SECRET-VALUE-never-rendered"

func secretEnv() *flows.Env {
	return &flows.Env{Vars: map[string]any{"which": "K"}, Secret: map[string]string{"K": secretValue, "CRM_KEY": secretValue, "A": secretValue}}
}

func TestSecretTemplates(t *testing.T) {
	t.Parallel()
	src := `name: s
triggers: [{keyword: [x]}]
steps:
  - http:
      url: "${secret.K}"
      headers: { A: "Bearer ${secret.K}, ${secret['CRM_KEY']}.", B: "$${secret.K}" }
      json: "${secret.A}"
`
	f, diags := flows.LoadFile("f.yaml", []byte(src), flows.Options{CheckSecrets: true, Secrets: []string{"K", "CRM_KEY", "A"}})
	if diags.HasErrors() {
		t.Fatal(diags)
	}
	o := f.Steps[0].Arg.(*flows.Object)
	env := secretEnv()
	hs := o.Get("headers").(*flows.Object)
	for _, tt := range []struct {
		t      *flows.Template
		want   string
		secret string
	}{
		{o.Template("url"), "${secret.K}", "K"},
		{hs.Get("A").(*flows.Template), "Bearer ${secret.K}, ${secret.CRM_KEY}.", ""},
		{hs.Get("B").(*flows.Template), "${secret.K}", ""},
		{o.Get("json").(*flows.Template), "${secret.A}", "A"},
	} {
		got, err := tt.t.Render(env)
		if err != nil || got != tt.want || tt.t.Secret() != tt.secret {
			t.Errorf("%q renders %q, %v, secret %q; want %q, secret %q", tt.t.Src, got, err, tt.t.Secret(), tt.want, tt.secret)
		}
	}
	pieces, err := hs.Get("A").(*flows.Template).Pieces(env)
	want := []flows.Piece{{Lit: "Bearer "}, {Secret: "K"}, {Lit: ", "}, {Secret: "CRM_KEY"}, {Lit: "."}}
	if err != nil || len(pieces) != len(want) {
		t.Fatalf("pieces %+v, %v", pieces, err)
	}
	for i := range want {
		if pieces[i] != want[i] {
			t.Fatalf("pieces %+v\nwant   %+v", pieces, want)
		}
	}
}

// FuzzSecretTemplate holds that, whatever the text, a flow that loads
// never renders a secret's value: in an http step's url and headers a
// secret becomes its placeholder, and anywhere else it does not load.
func FuzzSecretTemplate(f *testing.F) {
	for _, s := range []string{
		"${secret.K}", "a ${secret.K} b", "${secret['K']}", `${secret["K"]}`, "${secret[vars.which]}",
		"${secret}", "${secret.K + 'x'}", "${upper(secret.K)}", "${let s = secret; s.K}", "${get(secret, 'K')}",
		"${secret?.K}", "${{a: secret.K}.a}", "${[secret.K][0]}", "${secret.K ?? 'x'}", "${string(secret)}",
		"${secret.K}${secret.A}", "$${secret.K}", "${vars.secret}", "${'secret.K'}", "${ secret . K }",
		"${keys(secret)}", "${values(secret)}", "${toJSON(secret)}", "${secret.K[0:3]}", "${secret.K.x}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			t.Skip("YAML text is UTF-8")
		}
		q := yamlQuote(text)
		src := []byte("name: fuzz\ntriggers:\n  - keyword: [x]\nsteps:\n  - http:\n      url: " + yamlQuote("https://x.example/?q="+text) +
			"\n      headers: { A: " + q + " }\n  - send: " + q + "\n")
		fl, diags := flows.LoadFile(fuzzFlowFile, src, flows.Options{})
		checkDiags(t, fuzzFlowFile, src, diags)
		if diags.HasErrors() {
			return
		}
		env := secretEnv()
		o := fl.Steps[0].Arg.(*flows.Object)
		msg := fl.Steps[1].Arg.(*flows.Message)
		for _, tmpl := range []*flows.Template{o.Template("url"), o.Get("headers").(*flows.Object).Get("A").(*flows.Template), msg.Text} {
			got, err := tmpl.Render(env)
			if err == nil && strings.Contains(got, secretValue) {
				t.Fatalf("%q renders the secret's value: %q", tmpl.Src, got)
			}
			pieces, err := tmpl.Pieces(env)
			for _, p := range pieces {
				if err == nil && p.IsExpr && strings.Contains(fmt.Sprint(p.Value), secretValue) {
					t.Fatalf("%q gives the secret's value: %#v", tmpl.Src, p.Value)
				}
			}
		}
	})
}
