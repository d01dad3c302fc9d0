package telegram

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/switchboard-dev/switchboard/actions"
)

// TestOneMessageASecondPerChat: messages to one chat are a second apart;
// another chat does not wait.
func TestOneMessageASecondPerChat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := &chatLimiter{rate: DefaultChatRate, lims: map[string]*rateLimiter{}}
		to := func(chat string) *actions.HTTPRequest {
			return &actions.HTTPRequest{Body: `{"chat_id":"` + chat + `","text":"x"}`}
		}
		start := time.Now()
		require.NoError(t, c.wait(context.Background(), to("42")))
		require.NoError(t, c.wait(context.Background(), to("7")))
		require.Equal(t, time.Duration(0), time.Since(start))
		require.NoError(t, c.wait(context.Background(), to("42")))
		require.Equal(t, time.Second, time.Since(start))
	})
}
