package wsman

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// Basic authenticates with HTTP Basic against one user name and password,
// as a Windows host with the WinRM Basic auth option enabled (and a local
// account) does. User names compare case-insensitively, as Windows account
// names do; passwords exactly.
type Basic struct {
	Username, Password string
}

var _ Authenticator = Basic{}

// Authenticate implements Authenticator. A request without valid
// credentials gets 401 with the challenges Windows offers and an empty body.
func (b Basic) Authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	user, pass, ok := r.BasicAuth()
	if ok && strings.EqualFold(user, b.Username) && subtle.ConstantTimeCompare([]byte(pass), []byte(b.Password)) == 1 {
		return strings.ToLower(user), true
	}
	Challenge(w)
	return "", false
}

// Challenge writes the 401 Windows answers an unauthenticated request with.
func Challenge(w http.ResponseWriter) {
	w.Header().Add("WWW-Authenticate", "Negotiate")
	w.Header().Add("WWW-Authenticate", `Basic realm="WSMAN"`)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusUnauthorized)
}
