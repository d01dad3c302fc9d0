package delivery

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/switchboard-dev/switchboard/actions"
)

// stored is a job's request as kept in the outbox: the rendered
// actions.Request (kind, destination and body under "request") and when the
// job was enqueued, from which Options.MaxAge is judged.
type stored struct {
	actions.Request
	Enqueued time.Time `json:"enqueued,omitzero"`
}

// EncodeRequest returns the bytes to store as store.NewJob.Request for r,
// enqueued at the given time. The dispatcher writes jobs with it; the
// Deliverer reads them back.
func EncodeRequest(r actions.Request, enqueued time.Time) ([]byte, error) {
	data, err := json.Marshal(stored{Request: r, Enqueued: enqueued.UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return data, nil
}

// DecodeRequest reads a request stored by EncodeRequest. A plain
// actions.Request in JSON decodes too, with a zero enqueued time (no age
// limit).
func DecodeRequest(data []byte) (actions.Request, time.Time, error) {
	var s stored
	if err := json.Unmarshal(data, &s); err != nil {
		return actions.Request{}, time.Time{}, fmt.Errorf("decode stored request: %w", err)
	}
	return s.Request, s.Enqueued, nil
}
