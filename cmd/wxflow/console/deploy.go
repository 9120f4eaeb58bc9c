package console

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/wxflow/wxflow/cmd/wxflow/internal/plan"
	"github.com/wxflow/wxflow/engine/scenario"
)

// contactExport downloads a contact's conversation as a test scenario
// (`wxflow export-test`): GET /contacts/{account}/{id}/test.yaml.
func (c *Console) contactExport(w http.ResponseWriter, r *http.Request) {
	account, id := r.PathValue("account"), r.PathValue("id")
	o := scenario.ExportOptions{}
	if c.cfg.ExportOptions != nil {
		o = c.cfg.ExportOptions(account)
	}
	o.Account, o.Contact = account, id
	// Inside the server: a conversation too long to write at once is
	// refused, saying how to export its last part with the CLI.
	o.MaxEvents = maxExportEvents
	src, err := scenario.Export(r.Context(), c.eng.Store(), o)
	if errors.Is(err, scenario.ErrNothingToExport) {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	if errors.Is(err, scenario.ErrExportTooLong) {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	if err != nil {
		c.fail(w, r, err, false)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/yaml; charset=utf-8")
	h.Set("Content-Disposition", `attachment; filename="`+exportFileName(account, id)+`"`)
	h.Set("Cache-Control", "no-store")
	w.Write(src)
}

// maxExportEvents is the most events of a conversation the console
// exports as a test (a variable for the tests).
var maxExportEvents = 10000

// exportFileName names a contact's exported test: ACCOUNT-OPENID.test.yaml
// with only letters, digits, - and _ kept.
func exportFileName(account, id string) string {
	keep := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
				return r
			}
			return '_'
		}, s)
	}
	return keep(account) + "-" + keep(id) + ".test.yaml"
}

// PlanView is what reloading the flows folder would do to one flow, for
// its page.
type PlanView struct {
	// Pending is set when the folder's file differs from the version
	// running (or is gone, or the folder does not load).
	Pending bool
	// Flow is the flow's part of the plan (nil when the plan does not
	// name it).
	Flow *plan.Flow
	// Errors are the folder's errors: a reload keeps the flows running.
	Errors []DiagView
	// Err says why there is no plan.
	Err string
}

// flowPlan returns the flow's part of the plan, nil when the console has
// no plan to show.
func (c *Console) flowPlan(ctx context.Context, name string) *PlanView {
	if c.cfg.Plan == nil {
		return nil
	}
	p, err := c.cfg.Plan(ctx)
	if err != nil {
		c.log.Error("console: plan", "err", err)
		return &PlanView{Err: "cannot compare the folder with what runs (see the server's log)"}
	}
	v := &PlanView{Flow: p.Flow(name), Errors: diagViews(p.Errors)}
	v.Pending = len(v.Errors) > 0 || v.Flow != nil && v.Flow.From != v.Flow.To
	return v
}
