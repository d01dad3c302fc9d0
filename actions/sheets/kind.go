package sheets

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/oauth2"
	"golang.org/x/oauth2/google"
	"golang.org/x/oauth2/jwt"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// Kind is the `sheets` action kind. Its destinations append at most one
// request a second unless they set `rate:` (Sheets allows 60 writes a
// minute per user per project). Its test message appends one row, the
// text, to --to (a range) or the destination's range.
var Kind = actions.Define(actions.Spec[*Destination, Append, *actions.HTTPRequest]{
	Name:              "sheets",
	DestinationConfig: destConfig{},
	ActionConfig:      actionConfig{},
	ParseDestination:  parseDestination,
	Compile:           compile,
	Wire:              wire,
	NewSender:         newSender,
	Test: func(d *Destination, o actions.TestOptions) (Append, error) {
		return Append{Range: o.To, Rows: [][]any{{o.Text}}}, nil
	},
	DefaultRate: func(*Destination) actions.Rate { return actions.Rate{PerSecond: 1, Burst: 1} },
})

// TokenShown is the access token as Wire shows it: the sender fetches the
// real one when it sends.
const TokenShown = "***"

// wire is the values.append request: valueInputOption RAW (values are
// stored as given, never parsed as formulas), rows inserted after the
// range's table.
func wire(d *Destination, a Append, r actions.Request) (*actions.HTTPRequest, error) {
	if d == nil {
		return nil, errors.New("sheets: the request names no destination")
	}
	id, rng := a.SpreadsheetID, a.Range
	if id == "" {
		id = d.SpreadsheetID
	}
	if rng == "" {
		rng = d.Range
	}
	if id == "" || rng == "" {
		return nil, errors.New("sheets: the request names no spreadsheet or range")
	}
	q := url.Values{"valueInputOption": {"RAW"}, "insertDataOption": {"INSERT_ROWS"}}
	u := d.APIURL + "/v4/spreadsheets/" + url.PathEscape(id) + "/values/" + url.PathEscape(rng) + ":append?" + q.Encode()
	body := map[string]any{"range": rng, "majorDimension": "ROWS", "values": a.Rows}
	w, err := httpkit.JSONRequest("POST", u, body, r.Key, map[string]string{"Authorization": "Bearer " + TokenShown})
	if err != nil {
		return nil, fmt.Errorf("sheets: %w", err)
	}
	return w, nil
}

// googleError is the Sheets API's error body.
type googleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// newSender reads the key (credentials_file), and sends what Wire returns
// with a fresh access token: 401 UNAUTHENTICATED drops the cached token
// and is retried; 429 RESOURCE_EXHAUSTED is retried after Retry-After (a
// minute if absent: the quota is per minute); 5xx are retried; other
// errors (400 INVALID_ARGUMENT such as a bad range, 403 PERMISSION_DENIED
// when the spreadsheet is not shared with the service account, 404) are
// permanent. A key the token endpoint refuses is permanent too.
func newSender(d *Destination, o actions.SenderOptions) (actions.Send[*actions.HTTPRequest], error) {
	if d == nil {
		return nil, errors.New("sheets: actions always name a destination")
	}
	key := d.Key
	if key == nil {
		data, err := os.ReadFile(d.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("sheets: reading credentials_file: %w", errors.Unwrap(err))
		}
		if err := checkKey(data); err != nil {
			return nil, fmt.Errorf("sheets: credentials_file: %w", err)
		}
		key = data
	}
	cfg, err := google.JWTConfigFromJSON(key, Scope)
	if err != nil {
		return nil, errors.New("sheets: the credentials are not a service account key")
	}
	client := httpkit.NewClient(o)
	t := &tokens{cfg: cfg, ctx: context.WithValue(context.Background(), oauth2.HTTPClient, client.HTTPClient())}
	api := &httpkit.API{Client: client, Secrets: []string{string(key)}}
	return func(ctx context.Context, w *actions.HTTPRequest, r actions.Request) error {
		where := httpkit.Where(r.Destination)
		tok, err := t.get()
		if err != nil {
			return classifyToken(where, err)
		}
		sent := *w
		sent.Header = make(map[string]string, len(w.Header))
		for k, v := range w.Header {
			sent.Header[k] = v
		}
		sent.Header["Authorization"] = "Bearer " + tok
		api := *api
		api.Secrets = append(api.Secrets, tok)
		_, err = api.Call(ctx, r.Destination, "sheets: appending to "+where, &sent, nil, func(resp *httpkit.Response) error {
			return classify(&sent, resp, t)
		})
		return err
	}, nil
}

// tokens caches the access token until shortly before it expires.
type tokens struct {
	cfg *jwt.Config
	ctx context.Context

	mu  sync.Mutex
	src oauth2.TokenSource
}

func (t *tokens) get() (string, error) {
	t.mu.Lock()
	if t.src == nil {
		t.src = t.cfg.TokenSource(t.ctx)
	}
	src := t.src
	t.mu.Unlock()
	tok, err := src.Token()
	if err != nil {
		return "", err
	}
	return tok.AccessToken, nil
}

// reset drops the cached token (the API refused it).
func (t *tokens) reset() {
	t.mu.Lock()
	t.src = nil
	t.mu.Unlock()
}

// classifyToken classifies a failed token exchange: refused (400 or 401,
// such as invalid_grant: a deleted key, a wrong clock) is permanent;
// anything else is retried. It never prints the answer's body whole.
func classifyToken(where string, err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.Response != nil {
		code := re.Response.StatusCode
		var body struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.Unmarshal(re.Body, &body)
		why := strings.TrimSpace(printable(body.Error) + ": " + printable(body.Description))
		e := fmt.Errorf("sheets: getting an access token for %s: HTTP %d %s", where, code, strings.Trim(why, ": "))
		if code == 400 || code == 401 || code == 403 {
			return actions.Permanent(e)
		}
		return e
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return fmt.Errorf("sheets: getting an access token for %s: %w", where, err)
}

// printable keeps the start of an OAuth error field: letters, digits,
// spaces and punctuation, at most 200 bytes.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// classify reads the Sheets API's error answers.
func classify(w *actions.HTTPRequest, resp *httpkit.Response, t *tokens) error {
	var e googleError
	if json.Unmarshal(resp.Body, &e) != nil || e.Error.Message == "" {
		return nil
	}
	err := &actions.StatusError{Code: resp.Status, Body: e.Error.Status + ": " + httpkit.Snippet(w, []byte(e.Error.Message))}
	switch {
	case resp.Status == 401:
		t.reset()
		return err
	case resp.Status == 429:
		d, ok := actions.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
		if !ok {
			d = time.Minute
		}
		return actions.RetryAfter(d, err)
	case resp.Status >= 500:
		return err
	}
	return actions.Permanent(err)
}
