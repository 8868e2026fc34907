package credential

import (
	"context"
	"time"
)

// Stored is a credential as stored: the secret stays sealed.
type Stored struct {
	Name, Username string
	Sealed         []byte
	CreatedAt      time.Time
	Orgs           []string // organisations that use it by default (Credentials only)
	Devices        int      // devices that name it themselves (Credentials only)
}

// Store is the contract every credential store implements (store/sqlite's
// Credentials today, PostgreSQL's next). It keeps sealed secrets and the
// check value of the key that sealed them, never a secret in the clear.
type Store interface {
	// AddCredential stores a new credential with its sealed secret and the
	// check value of the key that sealed it, in one transaction. While
	// credentials are stored the key must be theirs (else an error
	// wrapping errkind.Conflict); with none stored, the check value is
	// recorded. A name taken is an error wrapping errkind.Exists.
	AddCredential(ctx context.Context, name, username string, sealed, keyCheck []byte) error
	// KeyCheck returns the stored key's check value (nil if none is
	// recorded) and how many credentials are stored.
	KeyCheck(ctx context.Context) (check []byte, credentials int, err error)
	// RecordKeyCheck records the check value of a key that opened a stored
	// credential where none is recorded; another recorded while
	// credentials are stored is an error wrapping errkind.Conflict.
	RecordKeyCheck(ctx context.Context, check []byte) error
	// Credential returns one credential, or an error wrapping
	// errkind.NotFound.
	Credential(ctx context.Context, name string) (Stored, error)
	// Credentials lists every credential with where it is used, by name.
	Credentials(ctx context.Context) ([]Stored, error)
	// RemoveCredential deletes a credential nothing uses: no device, no
	// organisation, not the default connection profile (else an error
	// wrapping errkind.InUse).
	RemoveCredential(ctx context.Context, name string) error
	// SetOrganisationCredential makes an organisation's devices use a
	// credential by default ("" clears it); the credential must exist.
	SetOrganisationCredential(ctx context.Context, org, name string) error
}
