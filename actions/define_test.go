package actions_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

type testDest struct{ Prefix string }

type testMsg struct {
	Text string `json:"text"`
	N    any    `json:"n,omitempty"`
}

// testKind is a kind with every part, for the adapter's checks.
var testKind = actions.Define(actions.Spec[*testDest, testMsg, string]{
	Name:             "t",
	ParseDestination: func(*actions.Block) (*testDest, error) { return &testDest{Prefix: "p:"}, nil },
	Compile: func(*actions.Block, *testDest) (actions.Renderer, error) {
		return actions.RenderAs(func(actions.Env) (testMsg, error) { return testMsg{Text: "<hi>"}, nil }), nil
	},
	Wire: func(d *testDest, m testMsg, r actions.Request) (string, error) {
		if d == nil {
			return m.Text, nil
		}
		return d.Prefix + m.Text, nil
	},
	NewSender: func(d *testDest, _ actions.SenderOptions) (actions.Send[string], error) {
		return func(context.Context, string, actions.Request) error { return nil }, nil
	},
})

func TestDefine(t *testing.T) {
	r, err := testKind.Compile(&actions.Block{})
	require.NoError(t, err)
	req, err := r.Render(nil)
	require.NoError(t, err)
	require.JSONEq(t, `{"text":"<hi>"}`, string(req.Body))
	require.Equal(t, `{"text":"<hi>"}`, string(req.Body), "no HTML escaping")

	w, err := testKind.Wire(&testDest{Prefix: "x:"}, actions.Request{Destination: "d", Body: req.Body})
	require.NoError(t, err)
	require.Equal(t, "x:<hi>", w)
	w, err = testKind.Wire(nil, req)
	require.NoError(t, err)
	require.Equal(t, "<hi>", w)

	_, err = testKind.Wire(nil, actions.Request{Destination: "d", Body: req.Body})
	require.EqualError(t, err, `t: destination "d" is not configured`)
	_, err = testKind.Wire("other", actions.Request{Destination: "d", Body: req.Body})
	require.EqualError(t, err, `t: destination "d" is not of kind t`)
	_, err = testKind.Wire(nil, actions.Request{Body: json.RawMessage(`{"text":1}`)})
	require.ErrorContains(t, err, "t: decoding request")

	s, err := testKind.NewSender(nil, actions.SenderOptions{})
	require.NoError(t, err)
	err = s.Send(context.Background(), actions.Request{Destination: "gone", Body: req.Body})
	require.True(t, actions.IsPermanent(err), "a request that does not wire is permanent")
	require.NoError(t, s.Send(context.Background(), req))

	_, err = testKind.TestRequest(&testDest{}, actions.TestOptions{})
	require.EqualError(t, err, "t destinations cannot send a test message")
	require.Equal(t, actions.Rate{}, testKind.DefaultRate(&testDest{}))
	out, err := testKind.Format("a")
	require.NoError(t, err)
	require.Equal(t, `"a"`, out)
	require.Equal(t, "t", testKind.Name())
}

// TestWireKeepsNumbers: a free-form number keeps its digits.
func TestWireKeepsNumbers(t *testing.T) {
	k := actions.Define(actions.Spec[*testDest, testMsg, testMsg]{
		Name:             "n",
		ParseDestination: func(*actions.Block) (*testDest, error) { return nil, nil },
		Compile:          func(*actions.Block, *testDest) (actions.Renderer, error) { return nil, nil },
		Wire:             func(_ *testDest, m testMsg, _ actions.Request) (testMsg, error) { return m, nil },
	})
	w, err := actions.WireAs[testMsg](k, nil, actions.Request{Body: json.RawMessage(`{"text":"","n":12345678901234567890}`)})
	require.NoError(t, err)
	data, err := actions.JSON(w)
	require.NoError(t, err)
	require.Contains(t, string(data), `"n":12345678901234567890`)
}
