package publish

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/fernet/fernet-go"
)

// The files of the keys folder (DESIGN.md, "Command line").
const (
	// FernetKeyFile holds the 44-character Fernet key string collectors
	// share; it encrypts payloads and, as ASCII bytes, keys the HMAC of
	// envelope signatures.
	FernetKeyFile = "fernet.key"
	// PreviousFernetKeyFile optionally holds the key replaced by the last
	// rotation; it only opens envelopes, it never seals.
	PreviousFernetKeyFile = "fernet.previous.key"
	// SigningKeyFile holds the Ed25519 private key (PKCS#8 PEM) that signs
	// envelope 3.0.
	SigningKeyFile = "ed25519.key"
	// PublicKeyFile holds the Ed25519 public key (PKIX PEM) served at
	// /api/v1/model/pubkey.
	PublicKeyFile = "ed25519.pub"
)

// Environment variables that override the files; collectors in the field
// ship a fixed default Fernet key, which operators set this way.
const (
	EnvFernetKey         = "IDMT_FERNET_KEY"
	EnvPreviousFernetKey = "IDMT_FERNET_PREVIOUS_KEY"
)

// fernetKey is a Fernet key with the text it was given as: the HMAC of the
// envelope signature is keyed with the text, not the decoded bytes.
type fernetKey struct {
	text string
	key  *fernet.Key
}

// Keys are the keys that seal and open envelopes. They never leave the
// process: String, GoString and LogValue show only which keys are set and
// the public key's ID.
type Keys struct {
	current  fernetKey
	previous *fernetKey
	signing  ed25519.PrivateKey // nil: envelope 3.0 cannot be sealed
	public   ed25519.PublicKey  // nil: envelope 3.0 cannot be verified
	keyID    string
}

// KeyOption adds an optional key to NewKeys.
type KeyOption func(*keyOptions)

type keyOptions struct {
	previous string
	signing  ed25519.PrivateKey
	public   ed25519.PublicKey
}

// WithPreviousFernetKey adds the key replaced by a rotation: envelopes
// sealed with it still open.
func WithPreviousFernetKey(key string) KeyOption {
	return func(o *keyOptions) { o.previous = key }
}

// WithSigningKey adds the Ed25519 private key that seals envelope 3.0 (its
// public key is derived).
func WithSigningKey(priv ed25519.PrivateKey) KeyOption {
	return func(o *keyOptions) { o.signing = priv }
}

// WithPublicKey adds the Ed25519 public key that verifies envelope 3.0, for
// a client that has only the published key.
func WithPublicKey(pub ed25519.PublicKey) KeyOption {
	return func(o *keyOptions) { o.public = pub }
}

// NewKeys builds a key set from the current Fernet key string (44
// characters of URL-safe base64, as Fernet.generate_key() prints it).
func NewKeys(fernetKeyText string, opts ...KeyOption) (*Keys, error) {
	var o keyOptions
	for _, opt := range opts {
		opt(&o)
	}
	cur, err := parseFernetKey(fernetKeyText)
	if err != nil {
		return nil, err
	}
	k := &Keys{current: cur}
	if o.previous != "" {
		prev, err := parseFernetKey(o.previous)
		if err != nil {
			return nil, fmt.Errorf("previous key: %w", err)
		}
		k.previous = &prev
	}
	if o.signing != nil {
		if len(o.signing) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("%w: ed25519 private key of %d bytes", ErrInvalidKey, len(o.signing))
		}
		k.signing = o.signing
		k.public = o.signing.Public().(ed25519.PublicKey)
		if o.public != nil && !k.public.Equal(o.public) {
			return nil, fmt.Errorf("%w: the ed25519 public key does not belong to the private key", ErrInvalidKey)
		}
	} else if o.public != nil {
		if len(o.public) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("%w: ed25519 public key of %d bytes", ErrInvalidKey, len(o.public))
		}
		k.public = o.public
	}
	if k.public != nil {
		k.keyID = KeyID(k.public)
	}
	return k, nil
}

// parseFernetKey accepts exactly what Python's Fernet(key) accepts and
// collectors ship: 32 bytes in URL-safe base64 with padding, 44 characters.
func parseFernetKey(text string) (fernetKey, error) {
	if len(text) != 44 {
		return fernetKey{}, fmt.Errorf("%w: a Fernet key is 44 characters of URL-safe base64 (as Fernet.generate_key() prints), got %d characters", ErrInvalidKey, len(text))
	}
	raw, err := base64.URLEncoding.Strict().DecodeString(text)
	if err != nil || len(raw) != 32 {
		return fernetKey{}, fmt.Errorf("%w: a Fernet key is 44 characters of URL-safe base64 (A-Z a-z 0-9 - _ and one trailing =)", ErrInvalidKey)
	}
	var k fernet.Key
	copy(k[:], raw)
	return fernetKey{text: text, key: &k}, nil
}

// KeyID names an Ed25519 public key: the lower-case hex of the first 8
// bytes of the SHA-256 of its 32 raw bytes. Envelope 3.0 carries it.
func KeyID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return hex.EncodeToString(sum[:8])
}

// KeyID is the ID of the Ed25519 public key, "" without one.
func (k *Keys) KeyID() string { return k.keyID }

// CanSign reports whether the keys seal envelope 3.0.
func (k *Keys) CanSign() bool { return k.signing != nil }

// PublicKey is the Ed25519 public key, nil without one.
func (k *Keys) PublicKey() ed25519.PublicKey { return k.public }

// PublicKeyPEM is the Ed25519 public key as PKIX PEM ("PUBLIC KEY"), nil
// without one.
func (k *Keys) PublicKeyPEM() []byte {
	if k.public == nil {
		return nil
	}
	der, err := x509.MarshalPKIXPublicKey(k.public)
	if err != nil {
		return nil // cannot happen for a valid ed25519 key
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// openKeys lists the Fernet keys that open envelopes, current first.
func (k *Keys) openKeys() []fernetKey {
	if k.previous == nil {
		return []fernetKey{k.current}
	}
	return []fernetKey{k.current, *k.previous}
}

// String describes the keys without revealing any secret.
func (k Keys) String() string {
	prev := "none"
	if k.previous != nil {
		prev = "set"
	}
	sign := "none"
	switch {
	case k.signing != nil:
		sign = "private+public " + k.keyID
	case k.public != nil:
		sign = "public " + k.keyID
	}
	return fmt.Sprintf("publish.Keys{fernet: [redacted], previous fernet: %s, ed25519: %s}", prev, sign)
}

// GoString keeps %#v from printing the key bytes.
func (k Keys) GoString() string { return k.String() }

// LogValue keeps slog from printing the key bytes.
func (k Keys) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("fernet", "[redacted]"),
		slog.Bool("previous_fernet", k.previous != nil),
		slog.Bool("can_sign", k.signing != nil),
		slog.String("key_id", k.keyID),
	)
}

// LoadKeys reads the keys folder dir. env looks up environment variables
// (os.Getenv when nil): IDMT_FERNET_KEY and IDMT_FERNET_PREVIOUS_KEY, when
// set, win over fernet.key and fernet.previous.key. The Ed25519 files are
// optional: without ed25519.key no envelope 3.0 is sealed, and a folder
// with only ed25519.pub (a serving replica) still publishes the key.
func LoadKeys(dir string, env func(string) string) (*Keys, error) {
	if env == nil {
		env = os.Getenv
	}
	var opts []KeyOption
	cur, src, err := readFernet(dir, FernetKeyFile, env(EnvFernetKey), EnvFernetKey)
	if err != nil {
		return nil, err
	}
	if cur == "" {
		return nil, fmt.Errorf("%w: set %s or write the 44-character key to %s (idmtelemetry keys generate --out %s creates one)",
			ErrNoKeys, EnvFernetKey, filepath.Join(dir, FernetKeyFile), dir)
	}
	if _, err := parseFernetKey(cur); err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	prev, psrc, err := readFernet(dir, PreviousFernetKeyFile, env(EnvPreviousFernetKey), EnvPreviousFernetKey)
	if err != nil {
		return nil, err
	}
	if prev != "" {
		if _, err := parseFernetKey(prev); err != nil {
			return nil, fmt.Errorf("%s: %w", psrc, err)
		}
		opts = append(opts, WithPreviousFernetKey(prev))
	}
	privPath := filepath.Join(dir, SigningKeyFile)
	if data, err := os.ReadFile(privPath); err == nil {
		priv, err := ParseSigningKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", privPath, err)
		}
		opts = append(opts, WithSigningKey(priv))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read signing key: %w", err)
	}
	pubPath := filepath.Join(dir, PublicKeyFile)
	if data, err := os.ReadFile(pubPath); err == nil {
		pub, err := ParsePublicKeyPEM(data)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", pubPath, err)
		}
		opts = append(opts, WithPublicKey(pub))
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	k, err := NewKeys(cur, opts...)
	if err != nil {
		return nil, fmt.Errorf("keys folder %s: %w (regenerate the pair with idmtelemetry keys generate --overwrite)", dir, err)
	}
	return k, nil
}

// readFernet returns the key text from the environment value or the file,
// and where it came from for error messages; "" when neither has one.
func readFernet(dir, file, envValue, envName string) (text, source string, err error) {
	if v := strings.TrimSpace(envValue); v != "" {
		return v, envName, nil
	}
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", path, nil
	}
	if err != nil {
		return "", path, fmt.Errorf("read fernet key: %w", err)
	}
	return strings.TrimSpace(string(data)), path, nil
}

// ParseSigningKeyPEM reads an Ed25519 private key in PKCS#8 PEM ("PRIVATE
// KEY"), as openssl genpkey -algorithm ed25519 writes it.
func ParseSigningKeyPEM(data []byte) (ed25519.PrivateKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, fmt.Errorf("%w: want a PEM block \"PRIVATE KEY\" (PKCS#8)", ErrInvalidKey)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, want an ed25519 key", ErrInvalidKey, k)
	}
	return priv, nil
}

// ParsePublicKeyPEM reads an Ed25519 public key in PKIX PEM ("PUBLIC
// KEY"), as GET /api/v1/model/pubkey serves it.
func ParsePublicKeyPEM(data []byte) (ed25519.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, fmt.Errorf("%w: want a PEM block \"PUBLIC KEY\"", ErrInvalidKey)
	}
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	pub, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("%w: a %T, want an ed25519 key", ErrInvalidKey, k)
	}
	return pub, nil
}

// NewFernetKey returns a random Fernet key string.
func NewFernetKey() (string, error) {
	var k fernet.Key
	if err := k.Generate(); err != nil {
		return "", err
	}
	return k.Encode(), nil
}

// GenerateKeys writes a new fernet.key, ed25519.key and ed25519.pub to dir
// (created 0700 if missing) and returns them. Private files get mode 0600.
// Unless overwrite is set it refuses, before writing anything, when any of
// the three exists: replacing the Fernet key cuts off every collector that
// holds the old one.
func GenerateKeys(dir string, overwrite bool) (*Keys, error) {
	files := []string{FernetKeyFile, SigningKeyFile, PublicKeyFile}
	if !overwrite {
		for _, f := range files {
			if _, err := os.Stat(filepath.Join(dir, f)); err == nil {
				return nil, fmt.Errorf("%w: %s; keep it, or pass --overwrite to replace every key", ErrKeyExists, filepath.Join(dir, f))
			}
		}
	}
	fk, err := NewFernetKey()
	if err != nil {
		return nil, err
	}
	priv, pubPEM, privPEM, err := newSigningKey()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create keys folder: %w", err)
	}
	writes := []struct {
		file string
		data []byte
		perm os.FileMode
	}{
		{FernetKeyFile, []byte(fk + "\n"), 0o600},
		{SigningKeyFile, privPEM, 0o600},
		{PublicKeyFile, pubPEM, 0o644},
	}
	for _, w := range writes {
		if err := writeKeyFile(filepath.Join(dir, w.file), w.data, w.perm, overwrite); err != nil {
			return nil, err
		}
	}
	return NewKeys(fk, WithSigningKey(priv))
}

// EnsureKeys loads the keys folder, first generating what is missing: a
// Fernet key when neither IDMT_FERNET_KEY nor fernet.key has one, and an
// Ed25519 pair when neither of its files exists. It returns the files it
// created, for the start-up banner. This is the embedded default's "keys
// generated in the data dir"; an explicit --keys-dir should use LoadKeys.
func EnsureKeys(dir string, env func(string) string) (*Keys, []string, error) {
	if env == nil {
		env = os.Getenv
	}
	var created []string
	exists := func(f string) bool {
		_, err := os.Stat(filepath.Join(dir, f))
		return err == nil
	}
	if strings.TrimSpace(env(EnvFernetKey)) == "" && !exists(FernetKeyFile) {
		fk, err := NewFernetKey()
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create keys folder: %w", err)
		}
		path := filepath.Join(dir, FernetKeyFile)
		if err := writeKeyFile(path, []byte(fk+"\n"), 0o600, false); err != nil {
			return nil, nil, err
		}
		created = append(created, path)
	}
	if !exists(SigningKeyFile) && !exists(PublicKeyFile) {
		_, pubPEM, privPEM, err := newSigningKey()
		if err != nil {
			return nil, nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, nil, fmt.Errorf("create keys folder: %w", err)
		}
		for _, w := range []struct {
			file string
			data []byte
			perm os.FileMode
		}{{SigningKeyFile, privPEM, 0o600}, {PublicKeyFile, pubPEM, 0o644}} {
			path := filepath.Join(dir, w.file)
			if err := writeKeyFile(path, w.data, w.perm, false); err != nil {
				return nil, nil, err
			}
			created = append(created, path)
		}
	}
	k, err := LoadKeys(dir, env)
	return k, created, err
}

// RotateFernetKey copies fernet.key to fernet.previous.key and writes a new
// fernet.key: envelopes sealed before keep opening with the previous key
// while new ones use the new key. Each step replaces one whole file, so a
// rotation interrupted and run again still ends with a valid pair. Keys
// given in the environment are not touched.
func RotateFernetKey(dir string) error {
	cur, err := os.ReadFile(filepath.Join(dir, FernetKeyFile))
	if err != nil {
		return fmt.Errorf("rotate fernet key: %w", err)
	}
	if _, err := parseFernetKey(strings.TrimSpace(string(cur))); err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, FernetKeyFile), err)
	}
	if err := writeKeyFile(filepath.Join(dir, PreviousFernetKeyFile), cur, 0o600, true); err != nil {
		return err
	}
	fk, err := NewFernetKey()
	if err != nil {
		return err
	}
	return writeKeyFile(filepath.Join(dir, FernetKeyFile), []byte(fk+"\n"), 0o600, true)
}

func newSigningKey() (priv ed25519.PrivateKey, pubPEM, privPEM []byte, err error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, nil, nil, err
	}
	return priv, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// writeKeyFile writes a whole key file with perm. Without overwrite it
// creates the file exclusively; with overwrite it writes a temporary file
// and renames it over the old one, so a reader never sees half a key.
func writeKeyFile(path string, data []byte, perm os.FileMode, overwrite bool) error {
	if !overwrite {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%w: %s", ErrKeyExists, path)
		}
		if err != nil {
			return fmt.Errorf("write key: %w", err)
		}
		if err := writeSync(f, data); err != nil {
			os.Remove(path)
			return fmt.Errorf("write key %s: %w", path, err)
		}
		return nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write key: %w", err)
	}
	tmp := f.Name()
	if err := f.Chmod(perm); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := writeSync(f, data); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
