package publish

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/fernet/fernet-go"
)

// Format names an envelope format as release keys spell it
// (lake.ReleaseArtefactKey): "2" for envelope "2.0", "3" for "3.0".
type Format string

// The envelope formats.
const (
	// V2 is envelope "2.0", what collectors in the field read: a Fernet
	// token signed with HMAC-SHA256 keyed by the shared Fernet key string.
	V2 Format = "2"
	// V3 is envelope "3.0", opt-in: the same payload and HMAC, plus an
	// Ed25519 signature verifiable with the published public key.
	V3 Format = "3"
)

// Version is the envelope's "version" value.
func (f Format) Version() string { return string(f) + ".0" }

// ParseFormat reads "2", "2.0", "3" or "3.0".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "2", "2.0":
		return V2, nil
	case "3", "3.0":
		return V3, nil
	}
	return "", fmt.Errorf("envelope format %q: want 2 or 3", s)
}

// signedV3Prefix separates Ed25519 signatures of envelope 3.0 from any
// other use of the key.
const signedV3Prefix = "idmt-model-envelope-3.0\n"

// Metadata is the envelope's "metadata" object. Its values are integers
// and plain ASCII so that every client reprints it to the same bytes.
type Metadata struct {
	// Timestamp is when the envelope was sealed, in Unix seconds.
	Timestamp int64
	// Filename is "<name>.model".
	Filename string
	// SizeOriginal is the plaintext document's size in bytes.
	SizeOriginal int64
}

// canonical is json.dumps(metadata, sort_keys=True) as Python prints it:
// the bytes that the HMAC and Ed25519 signatures cover.
func (m Metadata) canonical() ([]byte, error) {
	return pythonJSON(map[string]any{
		"timestamp":     m.Timestamp,
		"filename":      m.Filename,
		"size_original": m.SizeOriginal,
	})
}

// sealed is one Fernet token in both envelope formats.
type sealed struct {
	v2, v3 []byte // v3 is nil when the keys cannot sign
}

// Seal encrypts a plaintext model document and wraps it in an envelope of
// the given format for the model (storage) name; at is the seal time
// (metadata timestamp and Fernet token time). The bytes Seal returns are
// the bytes served: their SHA-256 is the model_hash.
func Seal(keys *Keys, format Format, name string, document []byte, at time.Time) ([]byte, error) {
	if format == V3 && !keys.CanSign() {
		return nil, fmt.Errorf("seal envelope 3.0: %w (add %s to the keys folder)", ErrNoSigningKey, SigningKeyFile)
	}
	if format != V2 && format != V3 {
		return nil, fmt.Errorf("seal: unknown envelope format %q", format)
	}
	s, err := seal(keys, name, document, at)
	if err != nil {
		return nil, err
	}
	if format == V3 {
		return s.v3, nil
	}
	return s.v2, nil
}

// seal makes one Fernet token and wraps it in envelope 2.0 and, when the
// keys can sign, 3.0: both formats of a release carry the same payload.
func seal(keys *Keys, name string, document []byte, at time.Time) (sealed, error) {
	if err := validateName(name); err != nil {
		return sealed{}, err
	}
	tok, err := fernet.EncryptAndSignAtTime(document, keys.current.key, at)
	if err != nil {
		return sealed{}, fmt.Errorf("encrypt model: %w", err)
	}
	meta := Metadata{Timestamp: at.Unix(), Filename: name + ".model", SizeOriginal: int64(len(document))}
	metaJSON, err := meta.canonical()
	if err != nil {
		return sealed{}, err
	}
	payload := make([]byte, base64.StdEncoding.EncodedLen(len(tok)))
	base64.StdEncoding.Encode(payload, tok)
	signed := signedBytes(payload, metaJSON)
	sig := hmacHex(keys.current.text, signed)

	// The envelope is written the way Python's json.dumps writes the
	// dictionary the old server built, so it reads like the files
	// collectors already keep.
	head := make([]byte, 0, len(payload)+len(metaJSON)+256)
	head = append(head, `{"version": "2.0", "metadata": `...)
	head = append(head, metaJSON...)
	head = append(head, `, "payload": "`...)
	head = append(head, payload...)
	head = append(head, `", "signature": "`...)
	head = append(head, sig...)
	head = append(head, '"')
	out := sealed{v2: append(head, '}')}
	if keys.signing != nil {
		edSig := ed25519.Sign(keys.signing, append([]byte(signedV3Prefix), signed...))
		v3 := make([]byte, 0, len(head)+160)
		v3 = append(v3, `{"version": "3.0"`...)
		v3 = append(v3, head[len(`{"version": "2.0"`):]...)
		v3 = append(v3, `, "key_id": "`...)
		v3 = append(v3, keys.keyID...)
		v3 = append(v3, `", "signature_ed25519": "`...)
		v3 = base64.StdEncoding.AppendEncode(v3, edSig)
		v3 = append(v3, `"}`...)
		out.v3 = v3
	}
	return out, nil
}

// signedBytes is payload + "." + canonical metadata, what the HMAC covers
// (and, after signedV3Prefix, the Ed25519 signature).
func signedBytes(payload, metaJSON []byte) []byte {
	b := make([]byte, 0, len(payload)+1+len(metaJSON))
	b = append(b, payload...)
	b = append(b, '.')
	return append(b, metaJSON...)
}

func hmacHex(key string, msg []byte) string {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(msg)
	return hex.EncodeToString(m.Sum(nil))
}

// Opened is a verified and decrypted envelope.
type Opened struct {
	Format   Format
	Metadata Metadata
	// Document is the plaintext model document.
	Document []byte
	// KeyID is the Ed25519 key that signed an envelope 3.0.
	KeyID string
	// PreviousKey reports that the envelope was sealed with the previous
	// Fernet key (before a rotation).
	PreviousKey bool
}

// wireEnvelope is the JSON of both formats.
type wireEnvelope struct {
	Version          string          `json:"version"`
	Metadata         json.RawMessage `json:"metadata"`
	Payload          string          `json:"payload"`
	Signature        string          `json:"signature"`
	KeyID            string          `json:"key_id"`
	SignatureEd25519 string          `json:"signature_ed25519"`
}

// Open verifies an envelope and decrypts it, as a collector does: the HMAC
// over payload + "." + json.dumps(metadata, sort_keys=True) must match
// with the current or the previous Fernet key, and the payload must
// decrypt with that key. Envelope 3.0 must in addition carry a valid
// Ed25519 signature of the keys' public key. Open does not check the
// model_hash: the caller compares the SHA-256 of the bytes it received.
func Open(keys *Keys, envelope []byte) (*Opened, error) {
	var w wireEnvelope
	if err := json.Unmarshal(envelope, &w); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	format, err := ParseFormat(w.Version)
	if err != nil || w.Version != format.Version() {
		return nil, fmt.Errorf("%w: version %q, want \"2.0\" or \"3.0\"", ErrMalformed, w.Version)
	}
	meta, metaJSON, err := parseMetadata(w.Metadata)
	if err != nil {
		return nil, err
	}
	tok, err := base64.StdEncoding.Strict().DecodeString(w.Payload)
	if err != nil {
		return nil, fmt.Errorf("%w: payload is not standard base64", ErrMalformed)
	}
	signed := signedBytes([]byte(w.Payload), metaJSON)
	o := &Opened{Format: format, Metadata: meta}
	if format == V3 {
		if keys.public == nil {
			return nil, fmt.Errorf("open envelope 3.0: %w (fetch it from /api/v1/model/pubkey)", ErrNoSigningKey)
		}
		if w.KeyID != keys.keyID {
			return nil, fmt.Errorf("%w: signed by key %q, have key %q", ErrSignature, w.KeyID, keys.keyID)
		}
		sig, err := base64.StdEncoding.Strict().DecodeString(w.SignatureEd25519)
		if err != nil || !ed25519.Verify(keys.public, append([]byte(signedV3Prefix), signed...), sig) {
			return nil, fmt.Errorf("%w: ed25519", ErrSignature)
		}
		o.KeyID = w.KeyID
	}
	var key *fernetKey
	for i, k := range keys.openKeys() {
		if hmac.Equal([]byte(hmacHex(k.text, signed)), []byte(w.Signature)) {
			key, o.PreviousKey = &k, i > 0
			break
		}
	}
	if key == nil {
		return nil, fmt.Errorf("%w: hmac", ErrSignature)
	}
	doc := fernet.VerifyAndDecrypt(tok, 0, []*fernet.Key{key.key})
	if doc == nil {
		return nil, ErrDecrypt
	}
	if int64(len(doc)) != meta.SizeOriginal {
		return nil, fmt.Errorf("%w: %d bytes decrypted, metadata says %d", ErrMalformed, len(doc), meta.SizeOriginal)
	}
	o.Document = doc
	return o, nil
}

// parseMetadata reads the metadata object and reprints it as Python would.
func parseMetadata(raw json.RawMessage) (Metadata, []byte, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil || m == nil {
		return Metadata{}, nil, fmt.Errorf("%w: metadata is not an object", ErrMalformed)
	}
	canon, err := pythonJSON(m)
	if err != nil {
		return Metadata{}, nil, err
	}
	var meta Metadata
	var ok1, ok2, ok3 bool
	if n, ok := m["timestamp"].(json.Number); ok {
		meta.Timestamp, err = n.Int64()
		ok1 = err == nil
	}
	meta.Filename, ok2 = m["filename"].(string)
	if n, ok := m["size_original"].(json.Number); ok {
		meta.SizeOriginal, err = n.Int64()
		ok3 = err == nil
	}
	if !ok1 || !ok2 || !ok3 {
		return Metadata{}, nil, fmt.Errorf("%w: metadata needs integer timestamp and size_original and a string filename", ErrMalformed)
	}
	return meta, canon, nil
}
