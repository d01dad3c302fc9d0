package engine

import (
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/switchboard-dev/switchboard/actions"
)

// Errors and warnings of a load quote configuration values, and a value
// may come from ${ENV}: a kind that quotes only the start of a long value
// ("…" is not one email address) would print a piece of the secret that
// replacing whole values misses. scrubError removes every secret from such
// a text whole, in pieces, and, for the short ones, where they stand alone.

// minPiece is the shortest start or end of a secret removed from an error
// (shorter ones, such as "https://", are common to many values).
const minPiece = 16

// maxPieceSecret bounds the secrets searched for in pieces (longer ones
// are replaced whole only).
const maxPieceSecret = 16 << 10

func scrubError(msg string, secrets map[string]string) string {
	for _, v := range secrets {
		if v == "" {
			continue
		}
		if len(v) < minRedacted {
			msg = actions.MaskWord(msg, v)
			continue
		}
		forms := []string{v, strings.Trim(strconv.Quote(v), `"`)}
		if b, err := json.Marshal(v); err == nil {
			forms = append(forms, strings.Trim(string(b), `"`))
		}
		for _, f := range forms {
			msg = strings.ReplaceAll(msg, f, masked)
			if len(f) > minPiece && len(f) <= maxPieceSecret {
				msg = replacePieces(msg, f)
			}
		}
	}
	return msg
}

// replacePieces replaces with *** every run of msg, at least minPiece
// bytes long, that is the start or the end of secret: what is left of it
// after a cut.
func replacePieces(msg, secret string) string {
	head, tail := secret[:minPiece], secret[len(secret)-minPiece:]
	var b strings.Builder
	for {
		i := strings.Index(msg, head)
		if i < 0 {
			break
		}
		n := minPiece
		for i+n < len(msg) && n < len(secret) && msg[i+n] == secret[n] {
			n++
		}
		b.WriteString(msg[:i])
		b.WriteString(masked)
		msg = dropContinuation(msg[i+n:])
	}
	b.WriteString(msg)
	msg = b.String()
	b.Reset()
	for {
		i := strings.Index(msg, tail)
		if i < 0 {
			break
		}
		start := i
		for start > 0 && len(secret)-(i+minPiece-start) > 0 && msg[start-1] == secret[len(secret)-(i+minPiece-start)-1] {
			start--
		}
		for start > 0 && !utf8.RuneStart(msg[start]) {
			start++
		}
		b.WriteString(msg[:start])
		b.WriteString(masked)
		msg = msg[i+minPiece:]
	}
	b.WriteString(msg)
	return b.String()
}

// dropContinuation drops the UTF-8 continuation bytes s starts with (the
// rest of a character cut with a piece of a secret).
func dropContinuation(s string) string {
	for len(s) > 0 && !utf8.RuneStart(s[0]) {
		s = s[1:]
	}
	return s
}
