package main

import (
	"context"
	"fmt"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/plan"
	"github.com/wxflow/wxflow/engine/scenario"
	"github.com/wxflow/wxflow/flows"
)

// plan compares the flows folder with what the server runs (its loaded
// flows, the store's versions and active runs), for the console's flow
// page: what a reload would do.
func (s *server) plan(ctx context.Context) (*plan.Plan, error) {
	set, err := flows.LoadDir(s.cfg.Flows, s.loadOpt)
	if err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	in := plan.Input{Folder: set, Options: s.loadOpt, Running: map[string]string{}}
	for _, f := range s.engine.Flows().Flows {
		in.Running[f.Name] = f.Version
	}
	if err := readPlanInput(ctx, s.engine.Store(), &in); err != nil {
		return nil, fmt.Errorf("plan: %w", err)
	}
	return plan.Make(in), nil
}

// exportOptions are the time zone and the account's rules of a
// contact's test exported from the console.
func (s *server) exportOptions(account string) scenario.ExportOptions {
	o := scenario.ExportOptions{Zone: s.cfg.Timezone, ZoneName: s.cfg.TimezoneName}
	for _, a := range s.cfg.Accounts {
		if a.ID == account {
			o.Settings = a.Session
		}
	}
	return o
}
