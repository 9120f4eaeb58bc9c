package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/plan"
	"github.com/wxflow/wxflow/engine"
	"github.com/wxflow/wxflow/flows"
)

// runPlan is `wxflow plan [--config FILE] [--flows DIR]`: what reloading
// the flows folder would do to the runs the store has waiting.
func runPlan(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("plan", flag.ContinueOnError)
	fl.SetOutput(stderr)
	cfgPath := fl.String("config", defaultConfigFile, "the configuration file (without one: the sandbox's store, "+config.DefaultDatabase+", and "+sandboxFlows+")")
	flowsDir := fl.String("flows", "", "the flows folder to compare (default: the config's)")
	fl.Usage = func() {
		w := fl.Output()
		fmt.Fprintln(w, "usage: wxflow plan [--config FILE] [--flows DIR]")
		fmt.Fprintln(w, "\nCompares the flows folder with what the store knows (the flow versions loaded,")
		fmt.Fprintln(w, "the active runs and where they wait) and prints what a reload would do: flows")
		fmt.Fprintln(w, "added, removed and changed, and for each changed flow the steps that changed or")
		fmt.Fprintln(w, "are gone and how many runs wait at each (they keep their version). Exit 0 when")
		fmt.Fprintln(w, "nothing is at risk, 1 when runs wait at a step that changes or in a removed")
		fmt.Fprintln(w, "flow, or the folder has errors, 2 on usage errors.")
		fl.PrintDefaults()
	}
	if code, ok := parseFlags(fl, args, stdout); !ok {
		return code
	}
	if fl.NArg() > 0 {
		fl.Usage()
		return exitUsage
	}
	cfg, code, err := loadStoreConfig(fl, *cfgPath, "")
	if err != nil {
		fmt.Fprintf(stderr, "wxflow plan: %v\n", err)
		return code
	}
	if *flowsDir != "" {
		cfg.Flows = *flowsDir
	}
	// The folder as serve's reload loads it: a folder it refuses (a
	// secret, operator or team the config does not declare) has errors.
	opts := flowLoadOptions(cfg)
	set, err := flows.LoadDir(cfg.Flows, opts)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow plan: %v\n", err)
		return exitUsage
	}
	st, err := openExistingStore(ctx, cfg.Database, "plan", stderr)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow plan: %v\n", err)
		return exitProblems
	}
	defer st.Close()
	in := plan.Input{Folder: set, Options: opts}
	if err := readPlanInput(ctx, st, &in); err != nil {
		fmt.Fprintf(stderr, "wxflow plan: %v\n", err)
		return exitProblems
	}
	p := plan.Make(in)
	fmt.Fprintf(stdout, "wxflow plan: %s against %s\n", cfg.Flows, config.DatabaseName(cfg.Database))
	p.Write(stdout)
	if !p.OK() {
		return exitProblems
	}
	return exitOK
}

// readPlanInput reads what a plan compares a folder with: the flow
// versions the store keeps and where its active runs wait.
func readPlanInput(ctx context.Context, st engine.Store, in *plan.Input) error {
	return st.View(ctx, func(tx engine.ReadTx) error {
		l, ok := tx.(engine.FlowVersionLister)
		if !ok {
			return fmt.Errorf("this store (%T) cannot list its flow versions", tx)
		}
		var err error
		if in.Stored, err = l.FlowVersions(); err != nil {
			return err
		}
		// The flows the server's last load made current: without it
		// (a store no server of this version loaded), each flow's
		// newest stored version, and every flow ever loaded counts as
		// running.
		loaded, ok, err := engine.LoadedFlows(tx, time.Now())
		if err != nil {
			return err
		}
		if ok {
			in.Running = loaded
		}
		in.Active, err = tx.ActiveSteps()
		return err
	})
}
