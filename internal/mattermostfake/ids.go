package mattermostfake

import (
	"crypto/rand"
	"encoding/base32"
	"strings"
)

// Mattermost ids are 16 random bytes in base32 with this alphabet, 26
// lower-case characters (model.NewId).
var idEncoding = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// NewID returns a fresh Mattermost-style id.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return strings.ToLower(idEncoding.EncodeToString(b[:]))
}

// IsValidID mirrors model.IsValidId: 26 letters or digits.
func IsValidID(s string) bool {
	if len(s) != 26 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
