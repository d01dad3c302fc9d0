package delivery

import (
	"encoding/json"
	"fmt"

	"github.com/switchboard-dev/switchboard/actions"
)

// EncodeRequest returns the bytes to store as store.NewJob.Request for r:
// the rendered actions.Request (kind, destination and body under
// "request"). The dispatcher writes jobs with it; the Deliverer reads them
// back with DecodeRequest.
func EncodeRequest(r actions.Request) ([]byte, error) {
	data, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	return data, nil
}

// DecodeRequest reads a request stored by EncodeRequest.
func DecodeRequest(data []byte) (actions.Request, error) {
	var r actions.Request
	if err := json.Unmarshal(data, &r); err != nil {
		return actions.Request{}, fmt.Errorf("decode stored request: %w", err)
	}
	return r, nil
}
