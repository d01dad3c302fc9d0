// Package sheets implements the `sheets` action kind: rows appended to a
// Google Sheets spreadsheet with spreadsheets.values.append, as a Google
// Cloud service account (whose email the spreadsheet is shared with).
//
//	destinations:
//	  leads-sheet:
//	    kind: sheets
//	    credentials: "${GOOGLE_SERVICE_ACCOUNT_JSON}"   # or credentials_file: /etc/switchboard/sa.json
//	    spreadsheet_id: 1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms
//	    range: "Leads!A:D"
//	rules:
//	  - ...
//	    actions:
//	      - sheets: {destination: leads-sheet, cells: ["{{ time }}", "{{ sender.phone }}", "{{ sender.wa_name }}", "{{ text }}"]}
//
// Values are appended with valueInputOption RAW: Sheets stores them as
// given and never parses them, so a WhatsApp message that starts with =,
// +, - or @ is text in its cell, never a formula (and a phone number keeps
// its +). A grouped rule (`group:`) can write every message of its window
// in one request with `rows:`, which keeps within Sheets' per-minute
// write quota:
//
//	rows: "{{ map(group, [#.time, #.sender.phone, #.text]) }}"
//
// The service account's key is a secret: it is read with the rules (a
// credentials_file through the loader, relative to the rules file, so
// rules posted to the service read none of its files), exchanged for access tokens (golang.org/x/oauth2/google, with
// the key's token_uri) by the sender, and never stored or printed; dry-run
// shows the token as ***.
package sheets

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
)

// DefaultAPIURL is the Sheets API's base URL.
const DefaultAPIURL = "https://sheets.googleapis.com"

// Scope is the OAuth scope asked for.
const Scope = "https://www.googleapis.com/auth/spreadsheets"

// MaxCell is the longest text a cell holds (Google's limit, in
// characters); longer values are cut.
const MaxCell = 50000

// Destination is a parsed `kind: sheets` destination.
type Destination struct {
	// Key is the service account's JSON key (a secret): `credentials`, or
	// the content of KeyFile, read at load. A Destination parsed where no
	// file could be read has only KeyFile; its sender reads it.
	Key     []byte
	KeyFile string
	// SpreadsheetID and Range are the defaults of the actions.
	SpreadsheetID string
	Range         string
	APIURL        string
}

// Append is a rendered `sheets:` action: the rows to append. The
// spreadsheet and range are "" when the destination's apply.
type Append struct {
	SpreadsheetID string  `json:"spreadsheet_id,omitempty"`
	Range         string  `json:"range,omitempty"`
	Rows          [][]any `json:"rows"`
}

// renderer renders one compiled `sheets:` action.
type renderer struct {
	rng   string
	cells []actions.Value
	rows  actions.Value
}

func (r *renderer) render(env actions.Env) (Append, error) {
	a := Append{Range: r.rng}
	if r.rows.Set() {
		v, err := r.rows.Render(env, nil)
		if err != nil {
			return Append{}, fmt.Errorf("sheets: rows: %w", err)
		}
		list, ok := v.([]any)
		if !ok {
			return Append{}, fmt.Errorf("sheets: rows is %s once rendered, not a list of rows", describe(v))
		}
		for i, row := range list {
			cells, ok := row.([]any)
			if !ok {
				return Append{}, fmt.Errorf("sheets: rows[%d] is %s once rendered, not a list of cells", i, describe(row))
			}
			out, err := rowOf(cells)
			if err != nil {
				return Append{}, fmt.Errorf("sheets: rows[%d]%w", i, err)
			}
			a.Rows = append(a.Rows, out)
		}
		if len(a.Rows) == 0 {
			return Append{}, fmt.Errorf("sheets: rows is empty once rendered")
		}
		return a, nil
	}
	cells := make([]any, len(r.cells))
	for i, c := range r.cells {
		v, err := c.Render(env, nil)
		if err != nil {
			return Append{}, fmt.Errorf("sheets: cells[%d]: %w", i, err)
		}
		cells[i] = v
	}
	row, err := rowOf(cells)
	if err != nil {
		return Append{}, fmt.Errorf("sheets: cells%w", err)
	}
	a.Rows = [][]any{row}
	return a, nil
}

// rowOf turns rendered values into cells: text, numbers and booleans as
// they are, times in RFC 3339, nothing as an empty cell.
func rowOf(values []any) ([]any, error) {
	out := make([]any, len(values))
	for i, v := range values {
		switch v := v.(type) {
		case nil:
			out[i] = ""
		case string:
			out[i] = cutCell(v)
		case bool, float64, float32, int, int64, int32, uint, uint64, json.Number:
			out[i] = v
		case time.Time:
			out[i] = v.UTC().Format(time.RFC3339)
		case fmt.Stringer:
			out[i] = cutCell(v.String())
		default:
			return nil, fmt.Errorf("[%d] is %s once rendered, not text, a number or a boolean", i, describe(v))
		}
	}
	return out, nil
}

func cutCell(s string) string {
	if utf8.RuneCountInString(s) <= MaxCell {
		return s
	}
	r := []rune(s)
	return string(r[:MaxCell-1]) + "…"
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	case nil:
		return "empty"
	}
	return "a " + strings.TrimPrefix(fmt.Sprintf("%T", v), "*")
}

// String describes the destination without its key.
func (d *Destination) String() string {
	if d == nil {
		return "sheets destination"
	}
	return "sheets " + strconv.Quote(d.SpreadsheetID) + " as a service account <secret>"
}

// GoString is String, so that %#v does not print the key either.
func (d *Destination) GoString() string { return d.String() }

// LogValue is String, for log/slog.
func (d *Destination) LogValue() slog.Value { return slog.StringValue(d.String()) }

// MarshalJSON encodes String, so that JSON output holds no secret.
func (d *Destination) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }
