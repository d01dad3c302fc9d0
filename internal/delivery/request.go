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

// Unrendered is the stored request of an action whose templates failed to
// render: it has a kind and a destination but no body. Its job is a dead
// letter with the render error as the reason; replayed, it is rendered
// again with the running rules (Options.Render) before it is sent.
func Unrendered(kind, destination string) []byte {
	data, _ := json.Marshal(actions.Request{Kind: kind, Destination: destination}) // plain strings: always encodes
	return data
}

// IsUnrendered reports whether a decoded stored request is Unrendered.
func IsUnrendered(r actions.Request) bool { return len(r.Body) == 0 || string(r.Body) == "null" }
