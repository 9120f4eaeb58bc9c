package plan

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
	_ "github.com/wxflow/wxflow/steps"    // register step kinds
	_ "github.com/wxflow/wxflow/triggers" // register trigger kinds
)

const welcomeV1 = `name: welcome
triggers: [follow]
steps:
  - send: "Welcome!"
  - ask: "What should we call you?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Nice to meet you, ${contact.fields.name}!"
  - wait: 1d
  - send: "How was your first day?"
  - id: done
    end:
`

// welcomeV2: a step inserted at the top (the others move), the question
// reworded, the wait gone.
const welcomeV2 = `name: welcome
triggers: [follow]
steps:
  - tag: [new]
  - send: "Welcome!"
  # the question is friendlier now
  - ask: "How may we call you?"
    save: contact.fields.name
    timeout: 1h
    on_timeout: done
  - send: "Nice to meet you, ${contact.fields.name}!"
  - send: "How was your first day?"
  - id: done
    end:
`

const helpV1 = `name: help
triggers:
  - keyword: [help]
steps:
  - branch:
      - if: contact.fields.vip == true
        then:
          - send: "Hello, VIP"
          - ask: "Anything else?"
            timeout: 1h
      - else:
          - send: "Hello"
`

// helpV2 changes only the nested send of the else.
const helpV2 = `name: help
triggers:
  - keyword: [help]
steps:
  - branch:
      - if: contact.fields.vip == true
        then:
          - send: "Hello, VIP"
          - ask: "Anything else?"
            timeout: 1h
      - else:
          - send: "Hi there"
`

const byeV1 = `name: bye
triggers:
  - keyword: [bye]
steps:
  - ask: "Sure?"
    timeout: 1h
  - send: "Bye"
`

const newFlow = `name: promo
triggers:
  - keyword: [promo]
steps:
  - send: "10% off"
`

func load(t *testing.T, files map[string]string) *flows.Set {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	set, err := flows.LoadDir(dir, flows.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// stored returns the stored versions of a set's flows, loaded at at.
func stored(set *flows.Set, at time.Time) []*engine.FlowVersion {
	var out []*engine.FlowVersion
	for _, f := range set.Flows {
		out = append(out, &engine.FlowVersion{Version: f.Version, Name: f.Name, File: filepath.Base(f.File), Source: f.Source, LoadedAt: at})
	}
	return out
}

func version(set *flows.Set, name string) string {
	for _, f := range set.Flows {
		if f.Name == name {
			return f.Version
		}
	}
	return ""
}

func TestPlan(t *testing.T) {
	t.Parallel()
	old := load(t, map[string]string{"welcome.yaml": welcomeV1, "help.yaml": helpV1, "bye.yaml": byeV1})
	folder := load(t, map[string]string{"welcome.yaml": welcomeV2, "help.yaml": helpV2, "promo.yaml": newFlow})
	w1, h1, b1 := version(old, "welcome"), version(old, "help"), version(old, "bye")
	in := Input{
		Folder: folder,
		Stored: stored(old, time.Unix(100, 0)),
		Active: []engine.StepCount{
			{Flow: "welcome", Version: w1, Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 4},
			{Flow: "welcome", Version: w1, Step: "wait (line 10)", Status: engine.RunWaitingTime, N: 2},
			{Flow: "help", Version: h1, Step: "ask (line 9)", Status: engine.RunWaitingReply, N: 3},
			{Flow: "bye", Version: b1, Step: "ask (line 5)", Status: engine.RunWaitingReply, N: 1},
		},
	}
	p := Make(in)
	var out bytes.Buffer
	p.Write(&out)
	got := out.String()
	for _, want := range []string{
		"+ promo (",
		"- bye (bye.yaml): removed; 1 run waits in it, on the version they started with\n",
		"      gone     ask (line 5): 1 run waits here\n",
		"welcome.yaml): " + w1[:19] + " -> ",
		"      changed  ask (line 5) (now line 7): 4 runs wait here\n",
		"      gone     wait (line 10): 2 runs wait here\n",
		"    added    tag (line 4)\n",
		"help.yaml): " + h1[:19] + " -> ",
		"      changed  send (line 12) (now line 12)\n",
		"      same     ask (line 9): 3 runs wait here\n",
		"At risk: 7 runs wait at a step",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, got)
		}
	}
	for _, bad := range []string{"send (line 4)", "send (line 9) ", "end"} {
		if strings.Contains(got, "changed  "+bad) || strings.Contains(got, "gone     "+bad) {
			t.Errorf("plan says %q changed:\n%s", bad, got)
		}
	}
	if p.AtRisk != 7 || p.OK() {
		t.Errorf("AtRisk = %d, OK = %v; want 7, false", p.AtRisk, p.OK())
	}
	if f := p.Flow("help"); f == nil || f.AtRisk != 0 || f.Runs != 3 {
		t.Errorf("help: %+v, want 3 runs, none at risk (they wait at a step that stays)", f)
	}

	// The same folder as the store: nothing changes.
	p = Make(Input{Folder: old, Stored: in.Stored, Active: in.Active})
	out.Reset()
	p.Write(&out)
	if !p.OK() || !strings.Contains(out.String(), "No flow changes.") || !strings.Contains(out.String(), "Nothing at risk") {
		t.Errorf("same folder: OK %v\n%s", p.OK(), out.String())
	}

	// Runs on an older version are shown but not at risk: an earlier
	// reload left them behind.
	p = Make(Input{Folder: folder, Stored: append(stored(folder, time.Unix(200, 0)), in.Stored...), Active: in.Active[:2]})
	if !p.OK() || len(p.Changed) != 0 {
		t.Errorf("older versions: OK %v changed %d", p.OK(), len(p.Changed))
	}
	out.Reset()
	p.Write(&out)
	if !strings.Contains(out.String(), "older version "+w1[:19]+": 6 runs wait") {
		t.Errorf("older versions not shown:\n%s", out.String())
	}

	// The console knows what runs: Running wins over the newest stored.
	p = Make(Input{Folder: folder, Stored: append(stored(folder, time.Unix(200, 0)), in.Stored...), Active: in.Active[:2],
		Running: map[string]string{"welcome": w1, "help": h1}})
	if p.OK() || p.AtRisk != 6 {
		t.Errorf("running v1: AtRisk %d, want 6", p.AtRisk)
	}
}

func TestPlanFolderErrors(t *testing.T) {
	t.Parallel()
	folder := load(t, map[string]string{"welcome.yaml": "name: welcome\ntriggers: [follow]\nsteps:\n  - sned: hi\n"})
	p := Make(Input{Folder: folder})
	var out bytes.Buffer
	p.Write(&out)
	if p.OK() || !strings.Contains(out.String(), "The folder has 1 error: a reload keeps the flows running as they are.") {
		t.Errorf("OK %v\n%s", p.OK(), out.String())
	}
	// No diff of a reload that does not happen (it said the stored
	// flows were removed, or nameless files added).
	if strings.Contains(out.String(), "removed") || strings.Contains(out.String(), "added") || !strings.Contains(out.String(), "Fix them, then run wxflow plan again") {
		t.Errorf("a folder with errors shows a diff:\n%s", out.String())
	}
}

func TestOwnText(t *testing.T) {
	t.Parallel()
	set := load(t, map[string]string{"help.yaml": helpV1})
	in := infos(set.Flows[0])
	if len(in) != 4 {
		t.Fatalf("%d steps", len(in))
	}
	if want := "branch:\n  - if: contact.fields.vip == true\n    then:\n  - else:\n"; in[0].text != want {
		t.Errorf("branch's own text = %q, want %q", in[0].text, want)
	}
	if want := "ask: \"Anything else?\"\ntimeout: 1h\n"; in[2].text != want {
		t.Errorf("ask's own text = %q, want %q", in[2].text, want)
	}
}
