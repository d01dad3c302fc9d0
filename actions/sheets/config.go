package sheets

import (
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"regexp"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/switchboard-dev/switchboard/actions"
	"github.com/switchboard-dev/switchboard/actions/httpkit"
)

// destConfig is a destination as written in the rules file.
type destConfig struct {
	Credentials     string `yaml:"credentials"`
	CredentialsFile string `yaml:"credentials_file"`
	SpreadsheetID   string `yaml:"spreadsheet_id"`
	Range           string `yaml:"range"`
	APIURL          string `yaml:"api_url"`
}

// actionConfig is a `sheets:` action as written in the rules file.
type actionConfig struct {
	Destination string          `yaml:"destination"`
	Range       string          `yaml:"range"`
	Cells       []actions.Value `yaml:"cells"`
	Rows        actions.Value   `yaml:"rows"`
}

// spreadsheetID is what a spreadsheet's id (from its URL) looks like.
var spreadsheetID = regexp.MustCompile(`^[A-Za-z0-9_-]{10,100}$`)

func parseDestination(b *actions.Block) (*Destination, error) {
	var c destConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	d := &Destination{SpreadsheetID: c.SpreadsheetID, Range: c.Range, APIURL: DefaultAPIURL, KeyFile: c.CredentialsFile}
	switch {
	case c.Credentials != "" && c.CredentialsFile != "":
		b.Errorf(b.Field("credentials_file"), "set credentials or credentials_file, not both")
	case c.Credentials != "":
		// The key is a secret: problems never quote it.
		if err := checkKey([]byte(c.Credentials)); err != nil {
			b.Errorf(b.Field("credentials"), "credentials: %v", err)
		}
		d.Key = []byte(c.Credentials)
	case c.CredentialsFile != "" && b.ReadFile != nil:
		// Read through the loader, as every file the rules name: rules
		// posted to the service read none of its files, and a new key is
		// a new version of the rules.
		data, err := b.ReadFile(c.CredentialsFile)
		switch {
		case err != nil:
			b.Errorf(b.Field("credentials_file"), "credentials_file: %v", err)
		default:
			if err := checkKey(data); err != nil {
				b.Errorf(b.Field("credentials_file"), "credentials_file: %v", err)
			}
			d.Key = data
		}
	case c.CredentialsFile != "":
		// No file may be read here (a masked copy for printing): the
		// sender reads it if it is ever built from this.
	default:
		b.Errorf(nil, `credentials is required: a service account's JSON key, such as "${GOOGLE_SERVICE_ACCOUNT_JSON}" (or credentials_file: PATH)`)
	}
	switch {
	case c.SpreadsheetID == "":
		b.Errorf(nil, "spreadsheet_id is required: the id in the spreadsheet's URL, docs.google.com/spreadsheets/d/ID/edit")
	case !spreadsheetID.MatchString(c.SpreadsheetID):
		b.Errorf(b.Field("spreadsheet_id"), "spreadsheet_id: %q is not a spreadsheet id (the part of its URL after /d/)", cut(c.SpreadsheetID))
	}
	if c.Range != "" {
		checkRange(b, b.Field("range"), c.Range)
	}
	if c.APIURL != "" {
		d.APIURL = httpkit.CheckAPIURL(b, b.Field("api_url"), "api_url", c.APIURL)
	}
	return d, b.Err()
}

// serviceAccount is the part of a JSON key that is checked.
type serviceAccount struct {
	Type        string `json:"type"`
	ClientEmail string `json:"client_email"`
	PrivateKey  string `json:"private_key"`
	TokenURI    string `json:"token_uri"`
}

// checkKey checks a service account's JSON key without quoting it.
func checkKey(data []byte) error {
	var k serviceAccount
	if json.Unmarshal(data, &k) != nil {
		return errors.New("not a JSON key (download one from the service account's Keys tab)")
	}
	switch {
	case k.Type != "service_account":
		return errors.New(`not a service account's key ("type" is not "service_account")`)
	case k.ClientEmail == "":
		return errors.New(`the key has no "client_email"`)
	case k.TokenURI == "":
		return errors.New(`the key has no "token_uri"`)
	}
	block, _ := pem.Decode([]byte(k.PrivateKey))
	if block == nil {
		return errors.New(`the key's "private_key" is not a PEM private key`)
	}
	if _, err := x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if _, err := x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return errors.New(`the key's "private_key" does not parse`)
		}
	}
	return nil
}

// checkRange checks an A1 range such as Leads!A:D or 'Q1 leads'!A1.
func checkRange(b *actions.Block, at *yaml.Node, s string) {
	if s == "" || len(s) > 200 || strings.ContainsFunc(s, func(r rune) bool { return r < ' ' || r == 0x7f }) || strings.Contains(s, "{{") {
		b.Errorf(at, "range: %q is not a range such as Leads!A:D", cut(s))
	}
}

func cut(s string) string {
	if len(s) > 60 {
		return s[:60] + "..."
	}
	return s
}

func compile(b *actions.Block, d *Destination) (actions.Renderer, error) {
	var c actionConfig
	if !b.Decode(&c) {
		return nil, b.Err()
	}
	if d == nil {
		b.Errorf(nil, "destination is required: the name of a `kind: sheets` destination")
		return nil, b.Err()
	}
	switch {
	case c.Cells != nil && c.Rows.Set():
		b.Errorf(b.Field("rows"), "set cells (one row) or rows (a list of rows), not both")
	case c.Cells == nil && !c.Rows.Set():
		b.Errorf(nil, `cells is required: the row's cells, such as ["{{ time }}", "{{ sender.phone }}", "{{ text }}"] (or rows:)`)
	case c.Cells != nil && len(c.Cells) == 0:
		b.Errorf(b.Field("cells"), "cells: a row needs at least one cell")
	}
	if c.Range != "" {
		checkRange(b, b.Field("range"), c.Range)
	} else if d.Range == "" {
		b.Errorf(nil, "range is required: set it on the action or on the destination, such as Leads!A:D")
	}
	r := &renderer{rng: c.Range, cells: c.Cells, rows: c.Rows}
	return actions.RenderAs(r.render), b.Err()
}
