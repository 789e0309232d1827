package publish

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/fernet/fernet-go"
)

func TestSealOpen(t *testing.T) {
	keys := testKeys(t)
	doc := smallDoc(t, 42)
	at := time.Date(2026, 2, 1, 4, 0, 0, 0, time.UTC)
	for _, f := range []Format{V2, V3} {
		t.Run(string(f), func(t *testing.T) {
			env, err := Seal(keys, f, "AERO_SLM_3-11", doc, at)
			if err != nil {
				t.Fatal(err)
			}
			o, err := Open(keys, env)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(o.Document, doc) || o.Format != f || o.PreviousKey {
				t.Fatalf("opened %+v", o)
			}
			want := Metadata{Timestamp: at.Unix(), Filename: "AERO_SLM_3-11.model", SizeOriginal: int64(len(doc))}
			if o.Metadata != want {
				t.Errorf("metadata %+v, want %+v", o.Metadata, want)
			}
			if f == V3 && o.KeyID != keys.KeyID() {
				t.Errorf("key id %q, want %q", o.KeyID, keys.KeyID())
			}
		})
	}
}

// TestSealV2Wire rebuilds the v2 signature from the spec's recipe, with
// independent code, and checks every key a collector reads.
func TestSealV2Wire(t *testing.T) {
	keys := testKeys(t)
	doc := smallDoc(t, 42)
	at := time.Unix(1769918400, 0)
	env, err := Seal(keys, V2, "AERO_SLM_3-11", doc, at)
	if err != nil {
		t.Fatal(err)
	}
	var w map[string]any
	if err := json.Unmarshal(env, &w); err != nil {
		t.Fatal(err)
	}
	if len(w) != 4 || w["version"] != "2.0" {
		t.Fatalf("envelope keys: %v", w)
	}
	wantPrefix := fmt.Sprintf(`{"version": "2.0", "metadata": {"filename": "AERO_SLM_3-11.model", "size_original": %d, "timestamp": 1769918400}, "payload": "`, len(doc))
	if !strings.HasPrefix(string(env), wantPrefix) {
		t.Errorf("envelope starts %.160s", env)
	}
	payload := w["payload"].(string)
	meta := fmt.Sprintf(`{"filename": "AERO_SLM_3-11.model", "size_original": %d, "timestamp": 1769918400}`, len(doc))
	mac := hmac.New(sha256.New, []byte(keys.current.text))
	mac.Write([]byte(payload + "." + meta))
	if got, want := w["signature"], hex.EncodeToString(mac.Sum(nil)); got != want {
		t.Errorf("signature %v, want %v", got, want)
	}
	tok, err := base64.StdEncoding.DecodeString(payload)
	if err != nil {
		t.Fatal(err)
	}
	k, err := fernet.DecodeKey(keys.current.text)
	if err != nil {
		t.Fatal(err)
	}
	if got := fernet.VerifyAndDecrypt(tok, 0, []*fernet.Key{k}); !bytes.Equal(got, doc) {
		t.Error("payload does not decrypt to the document")
	}
	raw, _ := base64.URLEncoding.DecodeString(string(tok))
	if raw[0] != 0x80 {
		t.Errorf("fernet version byte %#x", raw[0])
	}
}

func TestOpenRejectsTampering(t *testing.T) {
	keys := testKeys(t)
	doc := smallDoc(t, 42)
	at := time.Unix(1769918400, 0)
	v2, err := Seal(keys, V2, "AERO_SLM_3-11", doc, at)
	if err != nil {
		t.Fatal(err)
	}
	v3, err := Seal(keys, V3, "AERO_SLM_3-11", doc, at)
	if err != nil {
		t.Fatal(err)
	}
	other := testKeys(t)
	pubOnly, err := NewKeys(keys.current.text, WithPublicKey(keys.PublicKey()))
	if err != nil {
		t.Fatal(err)
	}
	noPub, err := NewKeys(keys.current.text)
	if err != nil {
		t.Fatal(err)
	}
	// edit changes one JSON value of an envelope.
	edit := func(env []byte, key string, f func(any) any) []byte {
		var m map[string]any
		d := json.NewDecoder(bytes.NewReader(env))
		d.UseNumber()
		if err := d.Decode(&m); err != nil {
			t.Fatal(err)
		}
		m[key] = f(m[key])
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	flip := func(v any) any {
		s := []byte(v.(string))
		if s[10] == 'A' {
			s[10] = 'B'
		} else {
			s[10] = 'A'
		}
		return string(s)
	}
	tests := []struct {
		name string
		keys *Keys
		env  []byte
		want error
	}{
		{"v2 valid, reformatted JSON", keys, edit(v2, "version", func(v any) any { return v }), nil},
		{"v3 valid with public key only", pubOnly, v3, nil},
		{"v2 payload", keys, edit(v2, "payload", flip), ErrSignature},
		{"v2 timestamp", keys, edit(v2, "metadata", func(v any) any { v.(map[string]any)["timestamp"] = 1; return v }), ErrSignature},
		{"v2 extra metadata", keys, edit(v2, "metadata", func(v any) any { v.(map[string]any)["x"] = "y"; return v }), ErrSignature},
		{"v2 signature", keys, edit(v2, "signature", flip), ErrSignature},
		{"v2 other key", other, v2, ErrSignature},
		{"v3 ed25519 signature", keys, edit(v3, "signature_ed25519", flip), ErrSignature},
		{"v3 key id", keys, edit(v3, "key_id", func(any) any { return "0000000000000000" }), ErrSignature},
		{"v3 other signing key", other, v3, ErrSignature},
		{"v3 payload", keys, edit(v3, "payload", flip), ErrSignature},
		{"v3 without public key", noPub, v3, ErrNoSigningKey},
		{"v3 downgraded to 2.0", keys, edit(v3, "version", func(any) any { return "2.0" }), nil},
		{"unknown version", keys, edit(v2, "version", func(any) any { return "1.0" }), ErrMalformed},
		{"not json", keys, v2[:100], ErrMalformed},
		{"float timestamp", keys, edit(v2, "metadata", func(v any) any { v.(map[string]any)["timestamp"] = 1.5; return v }), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, err := Open(tt.keys, tt.env)
			if !errors.Is(err, tt.want) || (tt.want == nil && !bytes.Equal(o.Document, doc)) {
				t.Fatalf("Open = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestSealV3NeedsSigningKey(t *testing.T) {
	fk, _ := NewFernetKey()
	k, err := NewKeys(fk)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal(k, V3, "community", smallDoc(t, 42), time.Now()); !errors.Is(err, ErrNoSigningKey) {
		t.Fatalf("Seal v3 without signing key: %v", err)
	}
	if _, err := Seal(k, V2, "bad/name", smallDoc(t, 42), time.Now()); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("Seal with bad name: %v", err)
	}
}

// TestKeyRotation: an envelope sealed with the key a rotation replaced
// still opens with the previous key configured; new envelopes use the new
// key only.
func TestKeyRotation(t *testing.T) {
	old := testKeys(t)
	doc := smallDoc(t, 42)
	sealedOld, err := Seal(old, V2, "community", doc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	next, _ := NewFernetKey()
	rotated, err := NewKeys(next, WithPreviousFernetKey(old.current.text))
	if err != nil {
		t.Fatal(err)
	}
	o, err := Open(rotated, sealedOld)
	if err != nil {
		t.Fatal(err)
	}
	if !o.PreviousKey || !bytes.Equal(o.Document, doc) {
		t.Errorf("opened with previous key: %+v", o.PreviousKey)
	}
	sealedNew, err := Seal(rotated, V2, "community", doc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newOnly, _ := NewKeys(next)
	if o, err := Open(newOnly, sealedNew); err != nil || o.PreviousKey {
		t.Errorf("new envelope with the new key: %v", err)
	}
	if _, err := Open(old, sealedNew); !errors.Is(err, ErrSignature) {
		t.Errorf("new envelope opened with the old key: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	keys := testKeys(f)
	doc := smallDoc(f, 42)
	for _, fm := range []Format{V2, V3} {
		env, err := Seal(keys, fm, "community", doc, time.Unix(1769918400, 0))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(env)
	}
	f.Add([]byte(`{"version": "2.0", "metadata": {}, "payload": "", "signature": ""}`))
	f.Fuzz(func(t *testing.T, env []byte) {
		o, err := Open(keys, env)
		if err == nil && !bytes.Equal(o.Document, doc) {
			t.Fatalf("opened to another document")
		}
	})
}
