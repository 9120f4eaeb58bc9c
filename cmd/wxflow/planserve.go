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

// exportOptions are the time zone, the account's rules and the people of
// a contact's test exported from the console: what `wxflow export-test`
// writes with the server's config.
func (s *server) exportOptions(account string) scenario.ExportOptions {
	people := s.cfg.People()
	o := scenario.ExportOptions{Zone: s.cfg.Timezone, ZoneName: s.cfg.TimezoneName, People: &people}
	for _, a := range s.cfg.Accounts {
		if a.ID == account {
			o.Settings, o.AutoClose = a.Session, a.AutoClose
		}
	}
	return o
}
