package flows

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Options are the account settings the WeChat-aware checks use.
type Options struct {
	// Region is the region of accounts not listed in Regions:
	// "mainland" (the default) or "international".
	Region string
	// Regions maps account ids to their region.
	Regions map[string]string
	// Accounts are the ids of the accounts the server serves, when known
	// (a config's): a flow naming another is warned of, as it never
	// starts. Nil checks nothing.
	Accounts []string
	// Window is how long replies are allowed after an interaction (48h).
	Window time.Duration
	// MessageQuota and EventQuota are the replies allowed after a message
	// (5) and after an event (3).
	MessageQuota, EventQuota int
	// Sessions, when set, are the window and quotas of each account (a
	// config's session: settings), which win over the three above: a
	// flow of one account is checked by its account's, a flow of every
	// account by the strictest of them (it runs for each).
	Sessions map[string]Session
	// CheckSecrets makes `secret.NAME` an error unless NAME is in Secrets,
	// the names declared under secrets: in the config (wxflow serve).
	// Without it any name is accepted (wxflow validate without a config).
	CheckSecrets bool
	Secrets      []string
	// People, when set, are the operators and teams `assign` steps may
	// name (the config's, wxflow validate --config; or a scenario's
	// header): naming another is an error. Nil checks no names.
	People *People
}

// Session is an account's reply window and quotas; zero is WeChat's.
type Session struct {
	Window                   time.Duration
	MessageQuota, EventQuota int
}

// sessionFor returns the window and quotas a flow of account (of every
// account, "") is checked by.
func (o *Options) sessionFor(account string) *Options {
	if o == nil || len(o.Sessions) == 0 {
		return o
	}
	if s, ok := o.Sessions[account]; ok && account != "" {
		return &Options{Window: s.Window, MessageQuota: s.MessageQuota, EventQuota: s.EventQuota}
	}
	if account != "" {
		return o
	}
	var strictest *Options
	for _, s := range o.Sessions {
		x := &Options{Window: s.Window, MessageQuota: s.MessageQuota, EventQuota: s.EventQuota}
		if strictest == nil {
			strictest = x
			continue
		}
		strictest.Window = min(strictest.window(), x.window())
		strictest.MessageQuota = min(strictest.messageQuota(), x.messageQuota())
		strictest.EventQuota = min(strictest.eventQuota(), x.eventQuota())
	}
	return strictest
}

func (o *Options) window() time.Duration {
	if o == nil || o.Window <= 0 {
		return 48 * time.Hour
	}
	return o.Window
}

func (o *Options) messageQuota() int {
	if o == nil || o.MessageQuota <= 0 {
		return 5
	}
	return o.MessageQuota
}

func (o *Options) eventQuota() int {
	if o == nil || o.EventQuota <= 0 {
		return 3
	}
	return o.EventQuota
}

func (o *Options) regionFor(account string) string {
	if o == nil {
		return "mainland"
	}
	if r, ok := o.Regions[account]; ok && account != "" {
		return r
	}
	if o.Region == "" {
		return "mainland"
	}
	return o.Region
}

// internationalFor reports whether a flow of account (or of every
// account, "") may send from an international account, and the words to
// add to the warning: a flow of every account runs for the
// international ones among Regions too.
func (o *Options) internationalFor(account string) (bool, string) {
	if o.regionFor(account) == "international" {
		return true, ""
	}
	if account != "" || o == nil {
		return false, ""
	}
	var ids []string
	for id, r := range o.Regions {
		if r == "international" {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return false, ""
	}
	sort.Strings(ids)
	verb := "are"
	if len(ids) == 1 {
		verb = "is"
	}
	return true, fmt.Sprintf(" (this flow runs for every account, and %s %s international)", strings.Join(ids, ", "), verb)
}

// Set is the flows of one folder, loaded and checked together: the flows
// see each other (`start:`) and the folder's menu.yaml.
type Set struct {
	// Dir is the folder the flows came from.
	Dir   string
	Flows []*Flow
	// Menu is the folder's menu.yaml, or nil.
	Menu *Menu
	// Diags holds the problems of every file, sorted.
	Diags Diagnostics

	menuBroken bool // menu.yaml has errors: its keys are not compared with the flows
}

// Flow returns the flow with the given name, or nil.
func (s *Set) Flow(name string) *Flow {
	for _, f := range s.Flows {
		if f.Name == name {
			return f
		}
	}
	return nil
}

// IsFlowFile reports whether a file name is a flow (a .yaml or .yml file
// that is not a test scenario and not menu.yaml).
func IsFlowFile(name string) bool {
	base := filepath.Base(name)
	ext := filepath.Ext(base)
	if ext != ".yaml" && ext != ".yml" {
		return false
	}
	stem := strings.TrimSuffix(base, ext)
	return !strings.HasSuffix(stem, ".test") && stem != "menu" && !strings.HasPrefix(base, ".")
}

// LoadFile loads one flow from its source. Checks that need the other flows
// of its folder (start:, duplicate names, menu keys) are done by LoadDir.
func LoadFile(file string, src []byte, opts Options) (*Flow, Diagnostics) {
	f, _ := parseFile(file, src, &opts)
	f.Diags.Sort()
	return f, f.Diags
}

// LoadDir loads every flow of a folder (not its subfolders) and its
// menu.yaml, in parallel, and checks them together. The error is only for
// a folder that cannot be read; problems in files are in the Set's Diags.
func LoadDir(dir string, opts Options) (*Set, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read flows folder: %w", err)
	}
	var files []string
	menuFile := ""
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		switch name := e.Name(); {
		case name == "menu.yaml" || name == "menu.yml":
			menuFile = filepath.Join(dir, name)
		case IsFlowFile(name):
			files = append(files, filepath.Join(dir, name))
		}
	}
	set := &Set{Dir: dir, Flows: make([]*Flow, len(files))}
	var wg sync.WaitGroup
	var mu sync.Mutex
	jobs := make(chan int)
	for w := 0; w < min(runtime.GOMAXPROCS(0), max(len(files), 1)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				src, err := os.ReadFile(files[i])
				if err != nil {
					mu.Lock()
					set.Diags = append(set.Diags, Diagnostic{File: files[i], Line: 1, Col: 1, Severity: SeverityError, Message: "cannot read file: " + err.Error()})
					mu.Unlock()
					continue
				}
				f, _ := parseFile(files[i], src, &opts)
				set.Flows[i] = f
			}
		}()
	}
	for i := range files {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	var flows []*Flow
	for _, f := range set.Flows {
		if f != nil {
			flows = append(flows, f)
			set.Diags = append(set.Diags, f.Diags...)
		}
	}
	set.Flows = flows
	if menuFile != "" {
		src, err := os.ReadFile(menuFile)
		if err != nil {
			set.Diags = append(set.Diags, Diagnostic{File: menuFile, Line: 1, Col: 1, Severity: SeverityError, Message: "cannot read file: " + err.Error()})
		} else {
			m, diags := LoadMenu(menuFile, src)
			set.Menu = m
			set.menuBroken = diags.HasErrors()
			set.Diags = append(set.Diags, diags...)
		}
	}
	set.Diags = append(set.Diags, crossCheck(set, opts.Accounts)...)
	set.Diags.Sort()
	return set, nil
}

// Validate loads the flows at the given paths and returns every problem.
// A folder is walked with its subfolders (skipping testdata and hidden
// ones), each folder checked as one Set; a file is checked in the context
// of its folder, and only its own problems are returned. files counts the
// flow files checked.
func Validate(paths []string, opts Options) (diags Diagnostics, files int, err error) {
	type job struct {
		dir  string
		only map[string]bool // nil: every file of the folder
	}
	var jobs []*job
	byDir := map[string]*job{}
	add := func(dir, file string) {
		j := byDir[dir]
		if j == nil {
			j = &job{dir: dir, only: map[string]bool{}}
			byDir[dir] = j
			jobs = append(jobs, j)
		}
		if file == "" {
			j.only = nil
		} else if j.only != nil {
			j.only[file] = true
		}
	}
	for _, path := range paths {
		path = filepath.Clean(path)
		st, err := os.Stat(path)
		if err != nil {
			return nil, 0, fmt.Errorf("no such file or folder: %s", path)
		}
		if !st.IsDir() {
			ext := filepath.Ext(path)
			if ext != ".yaml" && ext != ".yml" {
				return nil, 0, fmt.Errorf("%s is not a flow file (.yaml or .yml)", path)
			}
			if stem := strings.TrimSuffix(filepath.Base(path), ext); strings.HasSuffix(stem, ".test") {
				// Checked as a flow, it counted no flow and passed.
				return nil, 0, fmt.Errorf("%s is a test scenario file: wxflow test checks and runs it", path)
			}
			add(filepath.Dir(path), path)
			continue
		}
		err = filepath.WalkDir(path, func(p string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				name := d.Name()
				if p != path && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
					return filepath.SkipDir
				}
				add(p, "")
			}
			return nil
		})
		if err != nil {
			return nil, 0, fmt.Errorf("walk %s: %w", path, err)
		}
	}
	for _, j := range jobs {
		set, err := LoadDir(j.dir, opts)
		if err != nil {
			return nil, 0, err
		}
		for _, f := range set.Flows {
			if j.only == nil || j.only[f.File] {
				files++
			}
		}
		for _, d := range set.Diags {
			if j.only == nil || j.only[d.File] {
				diags = append(diags, d)
			}
		}
	}
	diags.Sort()
	return diags, files, nil
}

// crossCheck finds the problems between the flows of a set: duplicate
// names, start: naming a missing flow or forming a cycle, triggers that
// tie, and menu keys without a flow (on an account the config serves,
// when accounts are known) or flows without a menu key.
func crossCheck(set *Set, accounts []string) Diagnostics {
	var diags Diagnostics
	report := func(file string, at Pos, sev Severity, hint, format string, args ...any) {
		diags = append(diags, Diagnostic{File: file, Line: at.Line, Col: at.Col, Severity: sev, Message: fmt.Sprintf(format, args...), Hint: hint})
	}
	flows := append([]*Flow(nil), set.Flows...)
	sort.SliceStable(flows, func(i, j int) bool { return flows[i].File < flows[j].File })
	byName := map[string]*Flow{}
	var names []string
	for _, f := range flows {
		if f.Name == "" {
			continue
		}
		if first, dup := byName[f.Name]; dup {
			report(f.File, f.NamePos, SeverityError, fmt.Sprintf("%s:%d already has this name", first.File, first.NamePos.Line), "duplicate flow name %q", f.Name)
			continue
		}
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	checkStarts(flows, byName, names, accounts, report)
	checkTies(flows, report)
	lintFollowScan(flows, report)
	checkMenu(set, flows, accounts, report)
	return diags
}

// walkParsed calls fn for every step of the flow that parsed, nested
// ones included, in document order: in a file with errors also those of
// a list that had an error, which Walk does not see.
func (f *Flow) walkParsed(fn func(s *Step)) {
	if f.parsedSteps == nil {
		f.Walk(fn)
		return
	}
	for _, s := range f.parsedSteps {
		fn(s)
	}
}

// triggersParsed returns the flow's triggers that parsed without error:
// in a file with errors also when another trigger had one.
func (f *Flow) triggersParsed() []*Trigger {
	if f.Triggers != nil || f.parsedTriggers == nil {
		return f.Triggers
	}
	return f.parsedTriggers
}

type reportFunc func(file string, at Pos, sev Severity, hint, format string, args ...any)

// checkStarts checks every `start:` names a flow, and that flows do not
// start each other in a cycle. With the config's accounts known, a flow of
// every account that starts a flow of one, unconditionally (a step of the
// top level without if:), is warned of: the runs of the other accounts'
// contacts fail there.
func checkStarts(flows []*Flow, byName map[string]*Flow, names []string, accounts []string, report reportFunc) {
	type startUse struct {
		step *Step
		to   string
	}
	starts := map[string][]startUse{}
	for _, f := range flows {
		f.walkParsed(func(s *Step) {
			if s.Kind != "start" {
				return
			}
			to, vars := StartTarget(s)
			if to == "" {
				return
			}
			target, ok := byName[to]
			if !ok {
				hint := didYouMean(to, names)
				if hint == "" {
					hint = "flows in this folder: " + strings.Join(sortedCopy(names), ", ")
				}
				report(f.File, startFlowPos(s), SeverityError, hint, "no flow named %q", to)
				return
			}
			if target.Account != "" && f.Account != "" && target.Account != f.Account {
				report(f.File, startFlowPos(s), SeverityError, fmt.Sprintf("a run starts flows for its own contact: start a flow of account %s, or one without account:", f.Account),
					"flow %q serves account %s, and this flow account %s", to, target.Account, f.Account)
			}
			if target.Account != "" && f.Account == "" && s.If == nil && slices.Contains(f.Steps, s) {
				var others []string
				for _, a := range accounts {
					if a != target.Account {
						others = append(others, a)
					}
				}
				if len(others) > 0 {
					report(f.File, startFlowPos(s), SeverityWarning,
						fmt.Sprintf("give this flow account: %s, or the step if: account.id == %q", target.Account, target.Account),
						"flow %q serves account %s only: the run of a contact of %s fails at this start", to, target.Account, strings.Join(others, ", "))
				}
			}
			checkStartVars(f, vars, target, report)
			starts[f.Name] = append(starts[f.Name], startUse{s, to})
		})
	}
	// Depth-first search for cycles; each cycle is reported once, at the
	// start step that closes it.
	const (
		white = iota
		grey
		black
	)
	color := map[string]int{}
	var path []string
	var visit func(name string)
	visit = func(name string) {
		color[name] = grey
		path = append(path, name)
		for _, u := range starts[name] {
			switch color[u.to] {
			case white:
				visit(u.to)
			case grey:
				i := len(path) - 1
				for path[i] != u.to {
					i--
				}
				cycle := append(append([]string{}, path[i:]...), u.to)
				f := byName[name]
				report(f.File, u.step.ArgPos, SeverityError, "a flow that starts itself, directly or through others, never ends; to repeat steps (a daily reminder), jump back with goto: after a wait:",
					"start: forms a cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		path = path[:len(path)-1]
		color[name] = black
	}
	for _, n := range sortedCopy(names) {
		if color[n] == white {
			visit(n)
		}
	}
}

// StartTarget returns the flow a `start` step starts and the variables
// it gives it (`start: NAME`, or `start: {flow: NAME, vars: {...}}`);
// vars is nil when none are given.
func StartTarget(s *Step) (flow string, vars *Object) {
	switch a := s.Arg.(type) {
	case string:
		return a, nil
	case *Object:
		v, _ := a.Get("vars").(*Object)
		return a.String("flow"), v
	}
	return "", nil
}

// startFlowPos is where a start step names its flow.
func startFlowPos(s *Step) Pos {
	if o, ok := s.Arg.(*Object); ok {
		return o.At("flow")
	}
	return s.ArgPos
}

// checkStartVars checks the variables a start step gives against those
// the started flow declares: each must be declared, and a value whose
// type is known must have the declared type.
func checkStartVars(from *Flow, vars *Object, target *Flow, report reportFunc) {
	if vars == nil {
		return
	}
	var declared []string
	for _, d := range target.VarDecls {
		declared = append(declared, d.Name)
	}
	var env any // the typed environment of from's variables, when needed
	for _, k := range vars.Keys {
		name := strings.TrimPrefix(k, "vars.")
		d, ok := target.declared(name)
		if !ok {
			hint := didYouMean(name, declared)
			if hint == "" {
				if len(declared) == 0 {
					hint = fmt.Sprintf("%s declares no variables; declare it there: vars: { %s: %s }", target.Name, name, VarTypeOf(vars.Get(k)))
				} else {
					hint = fmt.Sprintf("%s declares %s", target.Name, strings.Join(declared, ", "))
				}
			}
			report(from.File, vars.KeyPos[k], SeverityError, hint, "flow %q does not declare a variable %q", target.Name, name)
			continue
		}
		t := VarTypeOf(vars.Get(k))
		if t == VarAny && d.Type != VarAny {
			if env == nil {
				env = typedEnv(collectVars(from).types)
			}
			t = typedVarTypeOf(vars.Get(k), env)
			if tpl, ok := vars.Get(k).(*Template); ok && wholeGoType(tpl, env) == durationType {
				report(from.File, vars.At(k), SeverityError, fmt.Sprintf("%s:%d declares it %s; a duration fits only a variable declared any, or give a number such as .Minutes()", target.File, d.Pos.Line, d.Type),
					"%s: %s expects %s, but this is a duration", name, target.Name, d.Type.Phrase())
				continue
			}
		}
		if d.Type == VarTime && t == VarText {
			// A time may be given as RFC 3339 text: written out, it is
			// checked now; a template's text is checked when it is given.
			if err := timeText(vars.Get(k)); err != nil {
				report(from.File, vars.At(k), SeverityError, fmt.Sprintf("%s:%d declares it time", target.File, d.Pos.Line), "%s: %s %s", name, target.Name, err)
			}
			continue
		}
		if d.Type != VarAny && t != VarAny && t != d.Type {
			report(from.File, vars.At(k), SeverityError, fmt.Sprintf("%s:%d declares it %s", target.File, d.Pos.Line, d.Type),
				"%s: %s expects %s, but this is %s", name, target.Name, d.Type.Phrase(), t.Phrase())
		}
	}
}

// checkTies warns where triggers of two flows match the same input with
// the same priority and specificity: only the flow name decides then.
func checkTies(flows []*Flow, report reportFunc) {
	type seen struct {
		flow *Flow
		t    *Trigger
	}
	// Inputs are namespaced by the spec ("qrscene:store_*"), so a follow
	// with a scene and a scan of the same scene tie; a flow without
	// account: competes with the flows of every account.
	earlier := map[string][]seen{}
	for _, f := range flows {
		if f.Name == "" {
			continue // its name is missing or invalid, an error already: no flow "" to win
		}
		for _, t := range f.triggersParsed() {
			if t.If != nil || t.Spec.Inputs == nil {
				continue
			}
			inputs, spec := t.Spec.Inputs(t)
		inputs:
			for _, in := range inputs {
				key := fmt.Sprintf("%d|%d|%s", t.Priority, spec, in)
				var prev seen
				found := false
				for _, e := range earlier[key] {
					if e.flow != f && (e.flow.Account == "" || f.Account == "" || e.flow.Account == f.Account) {
						prev, found = e, true
						break
					}
				}
				earlier[key] = append(earlier[key], seen{f, t})
				if !found {
					continue inputs
				}
				winner := prev.flow.Name
				if f.Name < winner {
					winner = f.Name
				}
				report(f.File, t.Pos, SeverityWarning, "give one of them a higher priority",
					"%s trigger ties with flow %q (%s:%d) for the same input; %q wins by name order",
					t.Kind, prev.flow.Name, prev.flow.File, prev.t.Pos.Line, winner)
				break inputs
			}
		}
	}
}

// checkMenu compares menu.yaml's click keys with the flows' menu
// triggers. `wxflow menu push` publishes the one menu to every account:
// with the accounts known (a config's), a key whose flows all serve other
// accounts (account:) is a button that starts nothing on the others.
func checkMenu(set *Set, flows []*Flow, accounts []string, report reportFunc) {
	// A menu.yaml with errors is compared by the keys written in it, also
	// those of buttons that have errors; one that is not YAML, not at all.
	if set.menuBroken && set.Menu != nil && set.Menu.written == nil {
		return
	}
	var menuTriggers []*Trigger
	var triggerFiles, triggerAccounts []string
	unsure := false // a trigger that did not parse may handle any key
	for _, f := range flows {
		unsure = unsure || f.menuUnsure
		for _, t := range f.triggersParsed() {
			if t.Kind == "menu" {
				menuTriggers = append(menuTriggers, t)
				triggerFiles = append(triggerFiles, f.File)
				triggerAccounts = append(triggerAccounts, f.Account)
			}
		}
	}
	var keys []string
	var buttons []*MenuButton
	switch {
	case set.Menu != nil && set.menuBroken:
		buttons = set.Menu.written
	case set.Menu != nil:
		buttons = set.Menu.ClickButtons()
	}
	for _, b := range buttons {
		keys = append(keys, b.Key)
	}
	for i, t := range menuTriggers {
		pattern, _ := t.Arg.(string)
		if pattern == "" {
			continue
		}
		matched := false
		for _, k := range keys {
			if MatchGlob(pattern, k) {
				matched = true
				break
			}
		}
		if matched {
			continue
		}
		if set.Menu == nil {
			report(triggerFiles[i], t.ArgPos, SeverityWarning, "declare the account's menu in menu.yaml beside the flows",
				"menu key %q is not in menu.yaml (there is no menu.yaml in %s)", pattern, set.Dir)
			continue
		}
		if len(keys) == 0 {
			// A menu of links only (url:), or one whose buttons have no
			// key yet: there is no key to list.
			hint := "menu.yaml has no click keys: add a button with key: " + pattern
			if strings.ContainsAny(pattern, "*?") {
				hint = "menu.yaml has no click keys: add a button with a key this pattern matches"
			}
			report(triggerFiles[i], t.ArgPos, SeverityWarning, hint, "menu key %q is not in menu.yaml", pattern)
			continue
		}
		report(triggerFiles[i], t.ArgPos, SeverityWarning, didYouMeanOr(pattern, keys, "menu.yaml has keys "+strings.Join(keys, ", ")),
			"menu key %q is not in menu.yaml", pattern)
	}
	if set.Menu == nil || unsure {
		return
	}
	for _, b := range buttons {
		handled, everyAccount := false, false
		served := map[string]bool{}
		for i, t := range menuTriggers {
			if pattern, _ := t.Arg.(string); MatchGlob(pattern, b.Key) {
				handled = true
				everyAccount = everyAccount || triggerAccounts[i] == ""
				served[triggerAccounts[i]] = true
			}
		}
		if !handled {
			report(set.Menu.File, b.KeyPos, SeverityWarning, "add a flow with the trigger - menu: "+b.Key,
				"no flow handles menu key %q", b.Key)
			continue
		}
		if everyAccount {
			continue
		}
		var missing []string
		for _, a := range accounts {
			if !served[a] {
				missing = append(missing, a)
			}
		}
		if len(missing) > 0 {
			report(set.Menu.File, b.KeyPos, SeverityWarning,
				"wxflow menu push publishes this menu to every account: give "+strings.Join(missing, ", ")+" a flow with the trigger - menu: "+b.Key+" (a flow without account: serves every account), or publish the menu with menu push --account",
				"no flow handles menu key %q on account %s (its flows serve %s only)", b.Key, strings.Join(missing, ", "), strings.Join(slices.Sorted(maps.Keys(served)), ", "))
		}
	}
}

func didYouMeanOr(word string, candidates []string, otherwise string) string {
	if h := didYouMean(word, candidates); h != "" {
		return h
	}
	return otherwise
}
