package flows_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"
	_ "github.com/wxflow/wxflow/triggers"
)

// benchFlows and benchSteps are the size of the generated folder: 100 flows
// of 30 steps each (nested steps included).
const (
	benchFlows = 100
	benchSteps = 30
)

// benchFlow is one 30-step flow with a realistic mixture of steps: sends
// with templates, asks with expect/choices/timeout/on_timeout, branches,
// set, tag, http, wait, hours and goto. Most expressions are the same in
// every flow, as they are in real folders (contact.fields.name, vars.topic,
// ...); a few name the flow's own fields.
//
// {{N}} is the flow's number; § marks the end of every expression, where a
// salt (an expr comment) can be put to make every expression new to the
// compile cache.
const benchFlow = `# Generated for the validation benchmark.
name: flow-{{N}}
description: Benchmark flow {{N}}, a lead and help bot.
cooldown: 1h
vars: { token: text }
triggers:
  - keyword: [kw{{N}}, "word {{N}}", 关键词{{N}}]
  - {{TRIGGER}}
steps:
  - id: start
    set:
      vars.attempts: 0
      vars.origin: "${event.type§}"
      contact.fields.last_flow: "${flow.name§}"
  - send: "Hi ${contact.fields.name ?? 'there'§}, welcome to ${flow.name§}!"
  - id: menu
    ask: "What do you need?\n1. Prices\n2. Stores\n3. A person"
    expect: choice
    choices:
      prices: ["1", prices, 价格]
      stores: ["2", stores, 门店]
      human: ["3", person, 人工]
    save: vars.topic
    invalid: "Please reply 1, 2 or 3."
    timeout: 30m
    on_timeout: timed_out
  - branch:
      - if: vars.topic == "prices"§
        then:
          - send: "Prices: https://shop.example.com/prices?u=${contact.id§}&f=${flow.name§}"
          - tag: [asked_prices]
      - if: vars.topic == "stores" && contact.fields.city != nil§
        then:
          - send: "Our ${contact.fields.city§} store is open from 10:00, ${contact.fields.name ?? 'friend'§}."
      - if: "'vip' in contact.tags§"
        goto: vip
      - else:
          - tag: [wants_human, "from_${flow.name§}"]
  - ask: "Your email?"
    expect: email
    save: contact.fields.email
    invalid: "That doesn't look like an email address, ${contact.fields.name ?? 'friend'§}."
    timeout: 1h
    on_timeout: timed_out
    on_invalid: timed_out
  - ask: "How many people?"
    expect: number
    min: 1
    max: 12
    save: vars.party
    invalid: "Please reply with a number from 1 to 12."
    timeout: 1h
    on_timeout: timed_out
  - ask: "A phone number we can call?"
    expect: phone
    save: contact.fields.phone
    timeout: 1h
    on_timeout: timed_out
  - http:
      method: POST
      url: "https://crm.example.com/api/leads/${flow.name§}"
      headers:
        Authorization: "Bearer ${vars.token§}"
        X-Flow: "${flow.name§}"
      json:
        openid: "${contact.id§}"
        name: "${contact.fields.name§}"
        email: "${contact.fields.email§}"
        phone: "${contact.fields.phone§}"
        party: "${vars.party§}"
        topic: "${vars.topic§}"
        tags: "${contact.tags§}"
        at: "${now.Format('2006-01-02T15:04:05Z07:00')§}"
        source: wechat
      timeout: 5s
      save: vars.crm
    on_error: crm_failed
  - set:
      contact.fields.crm_id: "${vars.crm.body.id§}"
      vars.ok: "${vars.crm.status == 200§}"
      contact.fields.visits_{{N}}: "${(contact.fields.visits_{{N}} ?? 0) + 1§}"
  - tag: [lead, "flow_${flow.name§}"]
  - if: vars.ok && contact.fields.visits_{{N}} != nil§
    send: "Thanks ${contact.fields.name ?? 'friend'§}! We'll be in touch at ${contact.fields.email§}."
  - hours:
      timezone: Asia/Shanghai
      open: { mon-fri: "09:00-18:00", sat: "10:00-14:00" }
      holidays: [2026-10-01, 2026-10-02, 2026-10-05]
      workdays: [2026-09-20, 2026-10-10]
    when_open:
      - send: "A colleague will reply shortly."
    when_closed:
      - send: "We're closed now; we'll answer from 9:00 (Beijing time)."
  - wait: 10m
  - branch:
      - if: vars.party > 6§
        then:
          - send: "For groups over 6, please call us on ${contact.fields.store_phone ?? '400-000-0000'§}."
      - else:
          - send: "See you soon, party of ${vars.party§}!"
  - ask: "Anything else? yes / no"
    expect: choice
    choices:
      "yes": ["yes", "y", 是]
      "no": ["no", "n", 否]
    save: vars.more
    timeout: 30m
    on_timeout: done
  - branch:
      - if: vars.more == "yes"§
        goto: menu
      - else: done
  - id: vip
    send:
      news:
        title: "VIP offers for ${contact.fields.name ?? 'you'§}"
        description: "This week only."
        url: "https://shop.example.com/vip?u=${contact.id§}"
        picurl: "https://shop.example.com/img/vip.jpg"
  - goto: menu
  - id: crm_failed
    tag: [crm_pending]
  - goto: done
  - id: timed_out
    send: "No answer, no problem: write kw{{N}} any time, ${contact.fields.name ?? 'friend'§}."
  - id: done
    end:
`

// benchFlowSource returns flow i with the given salt in every expression.
func benchFlowSource(i int, salt string) string {
	n := fmt.Sprintf("%03d", i)
	trigger := "follow: qr_" + n
	switch i % 3 {
	case 1:
		trigger = "scan: store_" + n
	case 2:
		trigger = "keyword: { pattern: \"^(?i)order ([0-9]{6,})-" + n + "$\" }"
	}
	return strings.NewReplacer("{{N}}", n, "{{TRIGGER}}", trigger, "§", salt).Replace(benchFlow)
}

// writeBenchFlows writes the benchmark folder into dir.
func writeBenchFlows(tb testing.TB, dir, salt string) {
	tb.Helper()
	for i := range benchFlows {
		name := filepath.Join(dir, fmt.Sprintf("flow-%03d.yaml", i))
		if err := os.WriteFile(name, []byte(benchFlowSource(i, salt)), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
}

// checkBenchResult fails unless every flow was checked without a problem:
// a flow with errors skips the whole-flow analysis and would make the
// benchmark measure less than a real validation.
func checkBenchResult(tb testing.TB, diags flows.Diagnostics, files int, err error) {
	tb.Helper()
	if err != nil {
		tb.Fatal(err)
	}
	if files != benchFlows {
		tb.Fatalf("checked %d files, want %d", files, benchFlows)
	}
	if len(diags) > 0 {
		tb.Fatalf("generated flows have %d problems; first: %s", len(diags), diags[0])
	}
}

// TestBenchFlowsAreClean keeps the benchmark's generated flows valid, with
// exactly 30 steps each.
func TestBenchFlowsAreClean(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeBenchFlows(t, dir, "")
	diags, files, err := flows.Validate([]string{dir}, flows.Options{})
	checkBenchResult(t, diags, files, err)

	f, diags := flows.LoadFile("flow-001.yaml", []byte(benchFlowSource(1, " /* salted */")), flows.Options{})
	if len(diags) > 0 {
		t.Fatalf("salted flow has problems: %v", diags)
	}
	steps := 0
	f.Walk(func(*flows.Step) { steps++ })
	if steps != benchSteps {
		t.Errorf("generated flow has %d steps, want %d", steps, benchSteps)
	}
}

// BenchmarkValidate100Flows30Steps validates a folder of 100 flows of 30
// steps, as `wxflow validate` does. Expressions are compiled once per
// distinct source and kept in a process-wide cache, so after the first
// iteration this measures validation with every expression already
// compiled; BenchmarkValidate100Flows30StepsColdCache measures a fresh
// process.
func BenchmarkValidate100Flows30Steps(b *testing.B) {
	dir := b.TempDir()
	writeBenchFlows(b, dir, "")
	b.ReportAllocs()
	for b.Loop() {
		diags, files, err := flows.Validate([]string{dir}, flows.Options{})
		checkBenchResult(b, diags, files, err)
	}
}

// coldSalt numbers the salts of the cold-cache benchmark; it is never reset,
// so that -count runs do not meet expressions compiled by earlier runs.
var coldSalt int

// BenchmarkValidate100Flows30StepsColdCache is the same validation with
// every expression new to the compile cache in each iteration (a different
// comment inside each), as in one run of `wxflow validate`: expressions
// that repeat across the 100 files are still compiled once.
func BenchmarkValidate100Flows30StepsColdCache(b *testing.B) {
	dir := b.TempDir()
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		coldSalt++
		writeBenchFlows(b, dir, fmt.Sprintf(" /* %d */", coldSalt))
		b.StartTimer()
		diags, files, err := flows.Validate([]string{dir}, flows.Options{})
		checkBenchResult(b, diags, files, err)
	}
}

// BenchmarkLoadFile loads one 30-step flow (expressions cached after the
// first iteration).
func BenchmarkLoadFile(b *testing.B) {
	src := []byte(benchFlowSource(1, ""))
	b.ReportAllocs()
	for b.Loop() {
		_, diags := flows.LoadFile("flow-001.yaml", src, flows.Options{})
		if len(diags) > 0 {
			b.Fatalf("flow has problems: %v", diags)
		}
	}
}
