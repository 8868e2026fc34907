package credentials

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/ringmaster-fleet/ringmaster/credential"
	"github.com/ringmaster-fleet/ringmaster/errkind"
	"github.com/ringmaster-fleet/ringmaster/targets"
)

// Store is what adding a credential reads and writes.
type Store interface {
	// Credential, KeyCheck and RecordKeyCheck as targets reads them.
	targets.Credentials
	// AddCredential stores a sealed credential with the key's check value,
	// failing with errkind.Conflict when the stored check differs.
	AddCredential(ctx context.Context, name, username string, sealed, keyCheck []byte) error
	// Credentials lists the stored credentials, by name.
	Credentials(ctx context.Context) ([]credential.Stored, error)
}

// KeyCountError says the key file is missing while credentials sealed
// with another key are stored. It wraps the file's error.
type KeyCountError struct {
	Err         error
	Credentials int
}

func (e *KeyCountError) Error() string {
	return e.Err.Error()
}

func (e *KeyCountError) Unwrap() error { return e.Err }

// Sealing loads the key a new credential is sealed with from keyFile.
// Only while no credential is stored may it create the file (created is
// then true: tell the operator to back it up) or hold a key other than the
// stored credentials' one. A database from before check values records
// the key's check value once the key opens one of its credentials.
func Sealing(ctx context.Context, s Store, keyFile string) (k *credential.Keyring, created bool, err error) {
	check, n, err := s.KeyCheck(ctx)
	if err != nil {
		return nil, false, err
	}
	k, err = credential.LoadKey(keyFile)
	switch {
	case errors.Is(err, fs.ErrNotExist) && n > 0:
		return nil, false, &KeyCountError{Err: err, Credentials: n}
	case errors.Is(err, fs.ErrNotExist):
		k, err = credential.CreateKey(keyFile)
		if errors.Is(err, fs.ErrExist) { // another command made it meanwhile
			k, err = credential.LoadKey(keyFile)
		} else if err == nil {
			created = true
		}
	}
	if err != nil {
		return nil, false, err
	}
	switch {
	case n == 0:
		return k, created, nil
	case check != nil && !k.Matches(check):
		return nil, false, targets.KeyMismatch(keyFile)
	case check == nil:
		// From before check values: the key must open what is stored.
		stored, err := s.Credentials(ctx)
		if err != nil {
			return nil, false, err
		}
		if len(stored) > 0 {
			c, err := s.Credential(ctx, stored[0].Name)
			if err != nil {
				return nil, false, err
			}
			if _, err := k.Open(c.Name, c.Sealed); err != nil {
				return nil, false, targets.KeyMismatch(keyFile)
			}
		}
		if err := s.RecordKeyCheck(ctx, k.Check()); errors.Is(err, errkind.Conflict) {
			return nil, false, targets.KeyMismatch(keyFile)
		} else if err != nil {
			return nil, false, err
		}
	}
	return k, created, nil
}

// Add seals c's secret with k and stores it.
func Add(ctx context.Context, s Store, k *credential.Keyring, keyFile string, c credential.Credential) error {
	err := s.AddCredential(ctx, c.Name, c.Username, k.Seal(c.Name, c.Secret), k.Check())
	if errors.Is(err, errkind.Conflict) { // another key's credential came meanwhile
		return targets.KeyMismatch(keyFile)
	}
	return err
}

// ReadSecret reads a secret from r (at most 4 KiB): everything, less one
// trailing newline.
func ReadSecret(r io.Reader) (string, error) {
	b, err := io.ReadAll(bufio.NewReader(io.LimitReader(r, 4096)))
	if err != nil {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	return strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r"), nil
}
