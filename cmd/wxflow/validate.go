package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	iofs "io/fs"
	"os"

	"github.com/wxflow/wxflow/channels/wechat"
	"github.com/wxflow/wxflow/cmd/wxflow/internal/config"
	"github.com/wxflow/wxflow/flows"
)

func runValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("validate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	format := fs.String("format", "text", "output format: text or json")
	region := fs.String("region", "mainland", "region of the accounts: mainland or international")
	accountRegions := fs.String("account-region", "", "regions of named accounts: ACCOUNT=international,...")
	cfgPath := fs.String("config", "", "a wxflow serve config `FILE`: check the operator, team and secret names and the accounts' regions of flows against it")
	fs.Usage = func() {
		w := fs.Output()
		fmt.Fprintln(w, "usage: wxflow validate [--format text|json] [--region R] [--account-region A=R,...] [--config FILE] [PATH...]")
		fmt.Fprintln(w, "\nChecks flow files and folders (default flows/) and prints every problem.")
		fmt.Fprintln(w, "Exit 0 without errors (warnings allowed), 1 with errors, 2 on usage errors.")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args, stdout); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "wxflow validate: --format must be text or json, not %q\n", *format)
		return exitUsage
	}
	if *region != "mainland" && *region != "international" {
		fmt.Fprintf(stderr, "wxflow validate: --region must be mainland or international, not %q\n", *region)
		return exitUsage
	}
	regions, err := splitRegions(*accountRegions)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow validate: %v\n", err)
		return exitUsage
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"flows"}
	}
	opt := flows.Options{Region: *region, Regions: regions}
	if *cfgPath != "" {
		cfg, err := config.Load(*cfgPath, os.LookupEnv)
		if err != nil {
			fmt.Fprintf(stderr, "wxflow validate: %v\n", err)
			if errors.Is(err, iofs.ErrNotExist) {
				return exitUsage
			}
			return exitProblems
		}
		opt = withConfig(opt, cfg)
	}
	diags, files, err := flows.Validate(paths, opt)
	if err != nil {
		fmt.Fprintf(stderr, "wxflow validate: %v\n", err)
		return exitUsage
	}
	errs, warns := diags.Count(flows.SeverityError), diags.Count(flows.SeverityWarning)
	if *format == "json" {
		out := struct {
			Files       int               `json:"files"`
			Errors      int               `json:"errors"`
			Warnings    int               `json:"warnings"`
			Diagnostics flows.Diagnostics `json:"diagnostics"`
		}{files, errs, warns, diags}
		if out.Diagnostics == nil {
			out.Diagnostics = flows.Diagnostics{}
		}
		if err := writeJSON(stdout, out); err != nil {
			fmt.Fprintf(stderr, "wxflow validate: %v\n", err)
			return exitProblems
		}
	} else {
		for _, d := range diags {
			fmt.Fprintln(stdout, d.String())
		}
		fmt.Fprintf(stdout, "%d %s checked: %d %s, %d %s\n", files, plural(files, "flow"), errs, plural(errs, "error"), warns, plural(warns, "warning"))
	}
	if errs > 0 {
		return exitProblems
	}
	return exitOK
}

// withConfig checks flows against a serve config as wxflow serve does:
// the operator and team names, the secrets it declares, and its accounts'
// regions (those of --account-region win).
func withConfig(opt flows.Options, cfg *config.Config) flows.Options {
	regions := map[string]string{}
	for _, a := range cfg.Accounts {
		regions[a.ID] = a.Region
	}
	for id, r := range opt.Regions {
		regions[id] = r
	}
	opt.Regions = regions
	opt.Accounts = nil
	for _, a := range cfg.Accounts {
		opt.Accounts = append(opt.Accounts, a.ID)
	}
	opt.CheckSecrets, opt.Secrets = true, cfg.Secrets.Names()
	opt.People = cfg.FlowPeople()
	sessionOptions(&opt, cfg)
	return opt
}

// sessionOptions gives the flows' checks of WeChat's window and quota
// each account's session: settings: a flow of one account is checked by
// its account's, a flow of every account by the strictest.
func sessionOptions(opt *flows.Options, cfg *config.Config) {
	opt.Sessions = map[string]flows.Session{}
	for _, a := range cfg.Accounts {
		s := wechat.NewPolicy(a.Session).(wechat.Policy).Settings()
		opt.Sessions[a.ID] = flows.Session{Window: s.Window, MessageQuota: s.MessageQuota, EventQuota: s.EventQuota}
	}
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}
