package engine

import (
	"crypto/sha256"
	"encoding/hex"
)

// DedupeKey identifies one WhatsApp message as seen from one side of one
// chat, so that its copies (posted again, or by another team member's
// Cooby) are recognised: message.id, direction and chat_id joined by NUL.
// A payload without message.id is identified by its body instead:
// "sha256:" and the hex SHA-256 of the raw bytes, so that the same body
// posted twice is acted on once. Without an id, then, only a
// byte-identical re-post is a duplicate: the copies two team members'
// Coobys post of one message differ (user_phone, direction) and stay two
// events, as does a body re-serialized with other spacing or key order.
// The two kinds never collide: an id-based key always holds NULs, a hash
// key never does. Ingest, quarantine replay and dry-run all use it.
func DedupeKey(ev *Event, body []byte) string {
	if ev.Message.ID == "" {
		sum := sha256.Sum256(body)
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return ev.Message.ID + "\x00" + ev.Direction + "\x00" + ev.ChatID
}
