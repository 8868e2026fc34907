package wsman

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	//lint:ignore SA1019 NTLM's NT hash is MD4 by definition (MS-NLMP 3.3.1); compatibility is the point.
	"golang.org/x/crypto/md4"
)

// Credentials authenticate a local account the way a Windows host with
// WinRM's Basic and Negotiate options does: HTTP Basic, or NTLMv2 inside
// the Negotiate (or NTLM) scheme (MS-NLMP). NTLM is connection-oriented:
// the three legs (negotiate, challenge, authenticate) must travel on one
// connection, which then stays authenticated for the requests that follow
// on it, as with HTTP.sys. NTLMv1 and anonymous logons are refused.
type Credentials struct {
	Username, Password string
	// Domain is the NetBIOS name the challenge advertises (default WORKGROUP);
	// Computer the machine's name.
	Domain, Computer string

	mu    sync.Mutex
	conns map[string]*ntlmConn // by remote address: one TCP connection each
}

type ntlmConn struct {
	challenge [8]byte
	user      string // set once authenticated
	seen      time.Time
}

var _ Authenticator = (*Credentials)(nil)

// Authenticate implements Authenticator.
func (c *Credentials) Authenticate(w http.ResponseWriter, r *http.Request) (string, bool) {
	auth := r.Header.Get("Authorization")
	scheme, token, _ := strings.Cut(auth, " ")
	switch {
	case strings.EqualFold(scheme, "Basic"):
		user, pass, ok := r.BasicAuth()
		if ok && strings.EqualFold(user, c.Username) && subtle.ConstantTimeCompare([]byte(pass), []byte(c.Password)) == 1 {
			return strings.ToLower(user), true
		}
	case strings.EqualFold(scheme, "Negotiate"), strings.EqualFold(scheme, "NTLM"):
		msg, err := base64.StdEncoding.DecodeString(strings.TrimSpace(token))
		if err == nil {
			if user, ok := c.ntlm(w, r, scheme, msg); ok {
				return user, true
			}
			if w.Header().Get("WWW-Authenticate") != "" {
				return "", false // the challenge leg has been written
			}
		}
	case auth == "":
		if user := c.connUser(r.RemoteAddr); user != "" {
			return user, true
		}
	}
	Challenge(w)
	return "", false
}

// ConnState forgets a connection's NTLM state when it closes; wire it into
// http.Server.ConnState.
func (c *Credentials) ConnState(conn net.Conn, state http.ConnState) {
	if state == http.StateClosed || state == http.StateHijacked {
		c.mu.Lock()
		delete(c.conns, conn.RemoteAddr().String())
		c.mu.Unlock()
	}
}

func (c *Credentials) connUser(remote string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.conns[remote]; st != nil {
		st.seen = time.Now()
		return st.user
	}
	return ""
}

const (
	ntlmNegotiate    = 1
	ntlmChallenge    = 2
	ntlmAuthenticate = 3

	flagUnicode        = 0x00000001
	flagRequestTarget  = 0x00000004
	flagSign           = 0x00000010
	flagSeal           = 0x00000020
	flagNTLM           = 0x00000200
	flagAlwaysSign     = 0x00008000
	flagTargetTypeSrv  = 0x00020000
	flagExtendedSecure = 0x00080000
	flagTargetInfo     = 0x00800000
	flagVersion        = 0x02000000
	flag128            = 0x20000000
	flagKeyExch        = 0x40000000
	flag56             = 0x80000000
)

var ntlmSignature = []byte("NTLMSSP\x00")

// ntlm runs one leg of the handshake.
func (c *Credentials) ntlm(w http.ResponseWriter, r *http.Request, scheme string, msg []byte) (string, bool) {
	if len(msg) < 12 || !bytes.Equal(msg[:8], ntlmSignature) {
		return "", false
	}
	switch binary.LittleEndian.Uint32(msg[8:12]) {
	case ntlmNegotiate:
		if len(msg) < 16 {
			return "", false
		}
		clientFlags := binary.LittleEndian.Uint32(msg[12:16])
		st := &ntlmConn{seen: time.Now()}
		_, _ = rand.Read(st.challenge[:])
		c.mu.Lock()
		if c.conns == nil {
			c.conns = map[string]*ntlmConn{}
		}
		c.sweepLocked()
		c.conns[r.RemoteAddr] = st
		c.mu.Unlock()
		w.Header().Set("WWW-Authenticate", scheme+" "+base64.StdEncoding.EncodeToString(c.challengeMessage(clientFlags, st.challenge)))
		w.Header().Set("Content-Length", "0")
		w.WriteHeader(http.StatusUnauthorized)
		return "", false
	case ntlmAuthenticate:
		c.mu.Lock()
		st := c.conns[r.RemoteAddr]
		c.mu.Unlock()
		if st == nil {
			return "", false // the challenge was issued on another connection, or never
		}
		user, err := c.verify(msg, st.challenge)
		if err != nil {
			c.mu.Lock()
			delete(c.conns, r.RemoteAddr)
			c.mu.Unlock()
			return "", false
		}
		c.mu.Lock()
		st.user, st.seen = user, time.Now()
		c.mu.Unlock()
		return user, true
	}
	return "", false
}

// sweepLocked forgets handshakes left unfinished for long.
func (c *Credentials) sweepLocked() {
	if len(c.conns) < 1024 {
		return
	}
	for k, st := range c.conns {
		if time.Since(st.seen) > 10*time.Minute {
			delete(c.conns, k)
		}
	}
}

func utf16le(s string) []byte {
	u := utf16.Encode([]rune(s))
	b := make([]byte, 2*len(u))
	for i, r := range u {
		binary.LittleEndian.PutUint16(b[2*i:], r)
	}
	return b
}

func fromUTF16le(b []byte) string {
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}

// challengeMessage builds the CHALLENGE_MESSAGE (MS-NLMP 2.2.1.2).
func (c *Credentials) challengeMessage(clientFlags uint32, challenge [8]byte) []byte {
	domain := c.Domain
	if domain == "" {
		domain = "WORKGROUP"
	}
	computer := strings.ToUpper(c.Computer)
	flags := uint32(flagUnicode|flagRequestTarget|flagNTLM|flagAlwaysSign|flagTargetTypeSrv|flagTargetInfo|flagVersion) |
		clientFlags&(flagSign|flagSeal|flagExtendedSecure|flag128|flag56|flagKeyExch)
	var info bytes.Buffer
	av := func(id uint16, v []byte) {
		_ = binary.Write(&info, binary.LittleEndian, id)
		_ = binary.Write(&info, binary.LittleEndian, uint16(len(v)))
		info.Write(v)
	}
	av(2, utf16le(domain))   // MsvAvNbDomainName
	av(1, utf16le(computer)) // MsvAvNbComputerName
	av(4, utf16le(""))       // MsvAvDnsDomainName (a workgroup has none)
	av(3, utf16le(computer)) // MsvAvDnsComputerName
	ft := make([]byte, 8)    // MsvAvTimestamp, as a FILETIME
	binary.LittleEndian.PutUint64(ft, uint64(time.Now().UnixNano()/100)+116444736000000000)
	av(7, ft)
	av(0, nil) // MsvAvEOL

	target := utf16le(computer)
	const header = 56
	b := make([]byte, header, header+len(target)+info.Len())
	copy(b, ntlmSignature)
	binary.LittleEndian.PutUint32(b[8:], ntlmChallenge)
	putField(b[12:], len(target), header)
	binary.LittleEndian.PutUint32(b[20:], flags)
	copy(b[24:32], challenge[:])
	putField(b[40:], info.Len(), header+len(target))
	copy(b[48:56], []byte{10, 0, 0x61, 0x4a, 0, 0, 0, 15}) // version 10.0.19041, NTLM revision 15
	b = append(b, target...)
	return append(b, info.Bytes()...)
}

func putField(b []byte, length, offset int) {
	binary.LittleEndian.PutUint16(b[0:], uint16(length))
	binary.LittleEndian.PutUint16(b[2:], uint16(length))
	binary.LittleEndian.PutUint32(b[4:], uint32(offset))
}

func field(msg []byte, at int) ([]byte, error) {
	if len(msg) < at+8 {
		return nil, errors.New("short message")
	}
	n := int(binary.LittleEndian.Uint16(msg[at:]))
	off := int(binary.LittleEndian.Uint32(msg[at+4:]))
	if off < 0 || n < 0 || off+n > len(msg) {
		return nil, errors.New("field out of bounds")
	}
	return msg[off : off+n], nil
}

// verify checks an AUTHENTICATE_MESSAGE's NTLMv2 response (MS-NLMP 3.3.2)
// and returns the authenticated user.
func (c *Credentials) verify(msg []byte, challenge [8]byte) (string, error) {
	nt, err := field(msg, 20)
	if err != nil {
		return "", err
	}
	domainB, err := field(msg, 28)
	if err != nil {
		return "", err
	}
	userB, err := field(msg, 36)
	if err != nil {
		return "", err
	}
	if len(nt) <= 24 {
		return "", errors.New("NTLMv1 or anonymous response refused")
	}
	user, domain := fromUTF16le(userB), fromUTF16le(domainB)
	if !strings.EqualFold(user, c.Username) {
		return "", errors.New("unknown user")
	}
	h := md4.New()
	h.Write(utf16le(c.Password))
	ntowf := h.Sum(nil)
	key := hmacMD5(ntowf, utf16le(strings.ToUpper(user)+domain))
	proof := hmacMD5(key, append(challenge[:], nt[16:]...))
	if !hmac.Equal(proof, nt[:16]) {
		return "", errors.New("wrong password")
	}
	return strings.ToLower(user), nil
}

func hmacMD5(key, data []byte) []byte {
	m := hmac.New(md5.New, key)
	m.Write(data)
	return m.Sum(nil)
}
