package sheets_test

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions/actionstest"
)

// fakeGoogle is a loopback Google: the OAuth 2.0 token endpoint of
// service accounts (POST token_uri with grant_type
// urn:ietf:params:oauth:grant-type:jwt-bearer and an RS256-signed JWT
// assertion whose iss is the client_email, aud the token_uri and scope
// the scopes asked; answers {"access_token","expires_in","token_type"} or
// 400 {"error":"invalid_grant","error_description":...}), and the Sheets
// API v4's spreadsheets.values.append (POST
// /v4/spreadsheets/{id}/values/{range}:append?valueInputOption=...,
// Authorization: Bearer <access token>; answers {"spreadsheetId",
// "tableRange","updates":{...}}; errors as {"error":{"code","message",
// "status"}}: 400 INVALID_ARGUMENT, 401 UNAUTHENTICATED, 403
// PERMISSION_DENIED, 404 NOT_FOUND, 429 RESOURCE_EXHAUSTED).
type fakeGoogle struct {
	srv   *httptest.Server
	pub   *rsa.PublicKey
	email string
	id    string // the spreadsheet shared with the account

	mu          sync.Mutex
	tokensGiven int
	token       string
	refuseKey   bool
	busy        int
	sheets      map[string][][]cell // sheet name -> rows
	received    []actionstest.Received
}

// cell is a stored cell: text, a number, a boolean, or a formula.
type cell struct {
	Value   any
	Formula bool
}

// testKey is one RSA key for every test: generating one takes a while.
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

const saEmail = "switchboard@project-4711.iam.gserviceaccount.com"

// newFakeGoogle starts the fake and returns it with a service account's
// JSON key whose token_uri is the fake's.
func newFakeGoogle(t *testing.T) (*fakeGoogle, string) {
	priv := testKey()
	f := &fakeGoogle{pub: &priv.PublicKey, email: saEmail, id: "1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms", sheets: map[string][][]cell{"Leads": nil}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	key, err := json.Marshal(map[string]string{
		"type": "service_account", "project_id": "project-4711", "private_key_id": "0123456789abcdef",
		"private_key":  string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})),
		"client_email": f.email, "client_id": "100000000000000000001",
		"auth_uri": "https://accounts.google.com/o/oauth2/auth", "token_uri": f.srv.URL + "/token",
	})
	require.NoError(t, err)
	return f, string(key)
}

func googleErr(w http.ResponseWriter, code int, status, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": code, "message": msg, "status": status}})
}

func (f *fakeGoogle) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if r.URL.Path == "/token" {
		f.serveToken(w, r, body)
		return
	}
	f.received = append(f.received, actionstest.Received{Method: r.Method, URL: "http://" + r.Host + r.RequestURI, Header: r.Header.Clone(), Body: string(body)})
	if f.token == "" || r.Header.Get("Authorization") != "Bearer "+f.token {
		googleErr(w, 401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.")
		return
	}
	if f.busy > 0 {
		f.busy--
		w.Header().Set("Retry-After", "20")
		googleErr(w, 429, "RESOURCE_EXHAUSTED", "Quota exceeded for quota metric 'Write requests' and limit 'Write requests per minute per user'")
		return
	}
	prefix := "/v4/spreadsheets/"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	id, rng, ok2 := strings.Cut(rest, "/values/")
	rng, ok3 := strings.CutSuffix(rng, ":append")
	if !ok || !ok2 || !ok3 || r.Method != "POST" {
		googleErr(w, 404, "NOT_FOUND", "Requested entity was not found.")
		return
	}
	if id != f.id {
		googleErr(w, 403, "PERMISSION_DENIED", "The caller does not have permission")
		return
	}
	input := r.URL.Query().Get("valueInputOption")
	if input != "RAW" && input != "USER_ENTERED" {
		googleErr(w, 400, "INVALID_ARGUMENT", "'valueInputOption' is required but not specified")
		return
	}
	sheet, _, _ := strings.Cut(rng, "!")
	sheet = strings.Trim(sheet, "'")
	if _, ok := f.sheets[sheet]; !ok {
		googleErr(w, 400, "INVALID_ARGUMENT", "Unable to parse range: "+rng)
		return
	}
	var in struct {
		Range          string  `json:"range"`
		MajorDimension string  `json:"majorDimension"`
		Values         [][]any `json:"values"`
	}
	if err := json.Unmarshal(body, &in); err != nil || (in.Range != "" && in.Range != rng) {
		googleErr(w, 400, "INVALID_ARGUMENT", "Invalid JSON payload received, or range does not match the URL")
		return
	}
	for _, row := range in.Values {
		var cells []cell
		for _, v := range row {
			c := cell{Value: v}
			// USER_ENTERED parses text as if typed in the UI: a leading
			// = (or +, -, @ followed by an expression) makes a formula.
			if s, isText := v.(string); isText && input == "USER_ENTERED" && s != "" && strings.ContainsRune("=+-@", rune(s[0])) {
				c.Formula = true
			}
			cells = append(cells, c)
		}
		f.sheets[sheet] = append(f.sheets[sheet], cells)
	}
	n := len(f.sheets[sheet])
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	fmt.Fprintf(w, `{"spreadsheetId":%q,"tableRange":"%s!A1:D%d","updates":{"spreadsheetId":%q,"updatedRange":"%s!A%d:D%d","updatedRows":%d}}`,
		id, sheet, n-len(in.Values), id, sheet, n-len(in.Values)+1, n, len(in.Values))
}

func (f *fakeGoogle) serveToken(w http.ResponseWriter, r *http.Request, body []byte) {
	form, _ := url.ParseQuery(string(body))
	fail := func(code, desc string) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(400)
		json.NewEncoder(w).Encode(map[string]string{"error": code, "error_description": desc})
	}
	if r.Method != "POST" || form.Get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" {
		fail("unsupported_grant_type", "Invalid grant_type: "+form.Get("grant_type"))
		return
	}
	parts := strings.Split(form.Get("assertion"), ".")
	if len(parts) != 3 {
		fail("invalid_request", "Invalid JWT")
		return
	}
	sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	if f.refuseKey || rsa.VerifyPKCS1v15(f.pub, crypto.SHA256, sum[:], sig) != nil {
		fail("invalid_grant", "Invalid JWT Signature.")
		return
	}
	var claims struct {
		Iss, Scope, Aud string
		Exp, Iat        int64
	}
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(payload, &claims) != nil || claims.Iss != f.email || claims.Aud != "http://"+r.Host+"/token" ||
		!strings.Contains(claims.Scope, "https://www.googleapis.com/auth/spreadsheets") || claims.Exp-claims.Iat > 3600 ||
		time.Unix(claims.Exp, 0).Before(time.Now()) {
		fail("invalid_grant", "Invalid JWT: claims are not valid")
		return
	}
	f.tokensGiven++
	f.token = fmt.Sprintf("ya29.canary-access-token-%d-0a1b2c3d4e5f", f.tokensGiven)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	fmt.Fprintf(w, `{"access_token":%q,"expires_in":3599,"token_type":"Bearer"}`, f.token)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
