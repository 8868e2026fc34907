// Package credential owns the credentials executors log on with: named
// sets of a user name and a secret, and the keyring that seals secrets
// before they are stored (AES-256-GCM, each sealed value bound to its
// credential's name). A key's check value (Keyring.Check), stored with the
// sealed secrets, lets a caller refuse a key other than theirs. It imports
// only the standard library; storage keeps sealed bytes and never sees a
// secret in the clear.
package credential

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"
)

// Credential is a named logon. Secret is in the clear only in memory.
type Credential struct {
	Name      string
	Username  string
	Secret    string
	CreatedAt time.Time
}

// String never shows the secret.
func (c Credential) String() string {
	return fmt.Sprintf("credential %s (user %s)", c.Name, c.Username)
}

// GoString never shows the secret either (%#v).
func (c Credential) GoString() string { return c.String() }

var nameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$`)

// Validate checks the name and user name (not the secret's content).
func (c *Credential) Validate() error {
	switch {
	case !nameRE.MatchString(c.Name):
		return fmt.Errorf("credential name %q: want 1-63 letters, digits, '.', '_' or '-'", c.Name)
	case strings.TrimSpace(c.Username) == "":
		return errors.New("credential: a user name is required")
	case c.Secret == "":
		return errors.New("credential: the password is empty")
	}
	return nil
}

// Keyring seals and opens secrets with one 256-bit key.
type Keyring struct {
	aead  cipher.AEAD
	check []byte
}

// ErrSealed reports a sealed secret that cannot be opened: the wrong key,
// or the bytes were changed.
var ErrSealed = errors.New("cannot open the sealed secret (wrong key file, or the stored value was altered)")

// KeyMismatchError reports a key file whose key is not the one the stored
// credentials were sealed with.
type KeyMismatchError struct {
	Path string
}

func (e *KeyMismatchError) Error() string {
	return fmt.Sprintf("key file %s does not match the key the stored credentials were sealed with", e.Path)
}

// PermissionError reports a key file that users other than its owner may
// read or write.
type PermissionError struct {
	Path string
	Mode fs.FileMode
}

func (e *PermissionError) Error() string {
	return fmt.Sprintf("key file %s has mode %04o: it must not be readable or writable by group or others (chmod 600 %s)", e.Path, e.Mode.Perm(), e.Path)
}

// maxKeyFile is the most a key file is read of: its key is 64 hexadecimal
// characters and a line end.
const maxKeyFile = 1024

// LoadKey reads the key file (64 hex characters). It never creates one: a
// missing file is an error wrapping fs.ErrNotExist. A file that group or
// others may read or write is refused with a *PermissionError (on
// Windows, where access is an ACL the mode does not show, this is not
// checked).
func LoadKey(path string) (*Keyring, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missingKeyError(path)
	}
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("key file %s is not a regular file", path)
	}
	if runtime.GOOS != "windows" && st.Mode().Perm()&0o077 != 0 {
		return nil, &PermissionError{Path: path, Mode: st.Mode()}
	}
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, fmt.Errorf("key file %s: want 64 hexadecimal characters (a 256-bit key)", path)
	}
	return NewKeyring(key)
}

// missingKeyError says which key file does not exist; it wraps
// fs.ErrNotExist.
type missingKeyError string

func (e missingKeyError) Error() string { return "key file " + string(e) + " does not exist" }
func (e missingKeyError) Unwrap() error { return fs.ErrNotExist }

// CreateKey writes a new key file with a fresh random key, mode 0600. It
// never replaces a file: one that exists is an error wrapping
// fs.ErrExist.
func CreateKey(path string) (*Keyring, error) {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create key file %s: %w", path, err)
	}
	if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("write key file %s: %w", path, err)
	}
	return NewKeyring(key)
}

// NewKeyring uses a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("key: %d bytes, want 32", len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(checkLabel))
	return &Keyring{aead: aead, check: mac.Sum(nil)}, nil
}

// checkLabel is what the key check value authenticates.
const checkLabel = "ringmaster credential key check v1"

// Check returns the key's check value: HMAC-SHA256 under the key of a
// fixed label. Stored with the sealed credentials, it tells whether a key
// is the one they were sealed with, and reveals nothing of the key.
func (k *Keyring) Check() []byte { return slices.Clone(k.check) }

// Matches reports whether check is this key's check value.
func (k *Keyring) Matches(check []byte) bool { return hmac.Equal(k.check, check) }

// Seal encrypts a secret for the named credential: nonce then ciphertext.
func (k *Keyring) Seal(name, secret string) []byte {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return k.aead.Seal(nonce, nonce, []byte(secret), []byte("ringmaster credential "+name))
}

// Open decrypts what Seal produced for the same name.
func (k *Keyring) Open(name string, sealed []byte) (string, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return "", ErrSealed
	}
	plain, err := k.aead.Open(nil, sealed[:n], sealed[n:], []byte("ringmaster credential "+name))
	if err != nil {
		return "", ErrSealed
	}
	return string(plain), nil
}
