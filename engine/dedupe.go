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
// posted twice is acted on once (two copies that differ in any byte are
// two messages). The service's store and dry-run both use it.
func DedupeKey(ev *Event, body []byte) string {
	if ev.Message.ID == "" {
		sum := sha256.Sum256(body)
		return "sha256:" + hex.EncodeToString(sum[:])
	}
	return ev.Message.ID + "\x00" + ev.Direction + "\x00" + ev.ChatID
}
