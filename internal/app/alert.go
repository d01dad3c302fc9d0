package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/internal/alert"
)

// alertTarget is the running rules' on_dead_letter:.
func (a *App) alertTarget() (alert.Target, bool) {
	rs := a.Rules()
	if rs == nil || rs.OnDeadLetter == nil {
		return alert.Target{}, false
	}
	return alert.Target{Destination: rs.OnDeadLetter.Destination, Every: rs.OnDeadLetter.Every}, true
}

// sendNotice renders a notice by its destination's kind and sends it
// through the destination's sender, within its rate limit. It is not a
// delivery: it is not stored, and its failure makes no dead letter (the
// alerter tries again with its next summary).
func (a *App) sendNotice(ctx context.Context, dest string, n actions.Notice) error {
	rs := a.Rules()
	d, ok := rs.Destinations[dest]
	if !ok {
		return fmt.Errorf("destination %q is not in the running rules", dest)
	}
	req, err := actions.NoticeRequest(rs.Kind(d.Kind), d.Config, n)
	if err != nil {
		return fmt.Errorf("rendering the notice: %s", rs.RedactError(err.Error()))
	}
	req.Kind, req.Destination = d.Kind, dest
	req.Key = fmt.Sprintf("%s:%d", n.Type, n.To.UnixNano())
	s, err := a.sender(d.Kind, dest)
	if err != nil {
		return err
	}
	if lim := a.limiter(dest); lim != nil {
		if err := lim.Wait(ctx); err != nil {
			return fmt.Errorf("waiting for the destination's rate limit: %w", err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := s.Send(sctx, req); err != nil {
		return errors.New(rs.RedactError(err.Error()))
	}
	return nil
}
