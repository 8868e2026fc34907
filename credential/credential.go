// Package credential owns the credentials executors log on with: named
// sets of a user name and a secret, and the keyring that seals secrets
// before they are stored (AES-256-GCM, each sealed value bound to its
// credential's name). It imports only the standard library; storage keeps
// sealed bytes and never sees a secret in the clear.
package credential

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
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
	aead cipher.AEAD
}

// ErrSealed reports a sealed secret that cannot be opened: the wrong key,
// or the bytes were changed.
var ErrSealed = errors.New("cannot open the sealed secret (wrong key file, or the stored value was altered)")

// LoadOrCreateKey reads the key file (64 hex characters), creating it with
// a fresh random key and mode 0600 if it does not exist; created says so,
// so the caller can tell the operator to back it up.
func LoadOrCreateKey(path string) (k *Keyring, created bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, false, err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, false, fmt.Errorf("create key file %s: %w", path, err)
		}
		if _, err := f.WriteString(hex.EncodeToString(key) + "\n"); err != nil {
			f.Close()
			return nil, false, fmt.Errorf("write key file %s: %w", path, err)
		}
		if err := f.Close(); err != nil {
			return nil, false, fmt.Errorf("write key file %s: %w", path, err)
		}
		k, err := NewKeyring(key)
		return k, true, err
	}
	if err != nil {
		return nil, false, fmt.Errorf("read key file %s: %w", path, err)
	}
	key, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(key) != 32 {
		return nil, false, fmt.Errorf("key file %s: want 64 hexadecimal characters (a 256-bit key)", path)
	}
	k, err = NewKeyring(key)
	return k, false, err
}

// NewKeyring uses a 32-byte key.
func NewKeyring(key []byte) (*Keyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Keyring{aead: aead}, nil
}

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
