package publish

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestGenerateAndLoadKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	gen, err := GenerateKeys(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	for file, perm := range map[string]os.FileMode{FernetKeyFile: 0o600, SigningKeyFile: 0o600, PublicKeyFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != perm {
			t.Errorf("%s: mode %v, want %v", file, fi.Mode().Perm(), perm)
		}
	}
	fi, _ := os.Stat(dir)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("keys folder mode %v", fi.Mode().Perm())
	}
	loaded, err := LoadKeys(dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if loaded.current.text != gen.current.text || loaded.KeyID() != gen.KeyID() || !loaded.CanSign() {
		t.Fatalf("loaded %v, generated %v", loaded, gen)
	}
	env, err := Seal(gen, V3, "community", smallDoc(t, 42), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(loaded, env); err != nil {
		t.Fatal(err)
	}

	if _, err := GenerateKeys(dir, false); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second GenerateKeys: %v", err)
	}
	again, err := LoadKeys(dir, noEnv)
	if err != nil || again.current.text != gen.current.text {
		t.Fatal("a refused GenerateKeys changed the keys")
	}
	forced, err := GenerateKeys(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if forced.current.text == gen.current.text || forced.KeyID() == gen.KeyID() {
		t.Error("GenerateKeys with overwrite kept the old keys")
	}
	if fi, _ := os.Stat(filepath.Join(dir, FernetKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("overwritten fernet.key mode %v", fi.Mode().Perm())
	}
}

func TestLoadKeysErrors(t *testing.T) {
	write := func(t *testing.T, dir, file, content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	good, _ := NewFernetKey()
	other := t.TempDir()
	if _, err := GenerateKeys(other, false); err != nil {
		t.Fatal(err)
	}
	otherPub, _ := os.ReadFile(filepath.Join(other, PublicKeyFile))
	otherPriv, _ := os.ReadFile(filepath.Join(other, SigningKeyFile))

	tests := []struct {
		name    string
		files   map[string]string
		env     map[string]string
		want    error
		message string
	}{
		{"empty folder", nil, nil, ErrNoKeys, "IDMT_FERNET_KEY"},
		{"short key", map[string]string{FernetKeyFile: "abc\n"}, nil, ErrInvalidKey, "44 characters"},
		{"standard alphabet", map[string]string{FernetKeyFile: strings.Repeat("+", 43) + "="}, nil, ErrInvalidKey, "URL-safe"},
		{"bad env key", nil, map[string]string{EnvFernetKey: "nope"}, ErrInvalidKey, EnvFernetKey},
		{"bad previous", map[string]string{FernetKeyFile: good, PreviousFernetKeyFile: "x"}, nil, ErrInvalidKey, PreviousFernetKeyFile},
		{"bad pem", map[string]string{FernetKeyFile: good, SigningKeyFile: "not pem"}, nil, ErrInvalidKey, SigningKeyFile},
		{"public in private file", map[string]string{FernetKeyFile: good, SigningKeyFile: string(otherPub)}, nil, ErrInvalidKey, "PRIVATE KEY"},
		{"mismatched pair", map[string]string{FernetKeyFile: good, SigningKeyFile: string(otherPriv), PublicKeyFile: pubOf(t)}, nil, ErrInvalidKey, "does not belong"},
		{"env only", nil, map[string]string{EnvFernetKey: good}, nil, ""},
		{"public key only", map[string]string{FernetKeyFile: good, PublicKeyFile: string(otherPub)}, nil, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for f, c := range tt.files {
				write(t, dir, f, c)
			}
			k, err := LoadKeys(dir, func(k string) string { return tt.env[k] })
			if !errors.Is(err, tt.want) {
				t.Fatalf("LoadKeys = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.message) {
				t.Errorf("message %q lacks %q", err, tt.message)
			}
			if err == nil && tt.name == "public key only" && (k.CanSign() || k.PublicKeyPEM() == nil) {
				t.Errorf("public-only keys: can sign %v, pem %q", k.CanSign(), k.PublicKeyPEM())
			}
		})
	}
}

func pubOf(t *testing.T) string {
	k := testKeys(t)
	return string(k.PublicKeyPEM())
}

func TestEnvOverridesFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := GenerateKeys(dir, false); err != nil {
		t.Fatal(err)
	}
	envKey, _ := NewFernetKey()
	k, err := LoadKeys(dir, func(name string) string {
		if name == EnvFernetKey {
			return envKey + "\n"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if k.current.text != envKey {
		t.Error("IDMT_FERNET_KEY did not win over fernet.key")
	}
}

// TestKeysNeverPrinted formats keys every way a log line might and
// requires that no secret shows.
func TestKeysNeverPrinted(t *testing.T) {
	prevKey, _ := NewFernetKey()
	k := testKeys(t)
	k2, err := NewKeys(k.current.text, WithPreviousFernetKey(prevKey), WithSigningKey(k.signing))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	log.Info("keys", "keys", k2, "ptr", *k2)
	slog.New(slog.NewTextHandler(&buf, nil)).Info("keys", "keys", k2)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q"} {
		fmt.Fprintf(&buf, verb+"\n", k2)
		fmt.Fprintf(&buf, verb+"\n", *k2)
	}
	out := buf.String()
	secrets := []string{k2.current.text, prevKey, fmt.Sprint([]byte(k.signing)), fmt.Sprintf("%x", []byte(k.signing))}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Fatalf("a key was printed:\n%s", out)
		}
	}
	if !strings.Contains(out, "redacted") || !strings.Contains(out, k.KeyID()) {
		t.Errorf("output does not say what is configured:\n%s", out)
	}
}

func TestEnsureKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "var", "keys")
	k, created, err := EnsureKeys(dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if len(created) != 3 || !k.CanSign() {
		t.Fatalf("created %v", created)
	}
	k2, created, err := EnsureKeys(dir, noEnv)
	if err != nil || len(created) != 0 || k2.current.text != k.current.text || k2.KeyID() != k.KeyID() {
		t.Fatalf("second EnsureKeys: %v, created %v", err, created)
	}
	// With the Fernet key in the environment only the pair is generated.
	dir2 := t.TempDir()
	envKey, _ := NewFernetKey()
	k3, created, err := EnsureKeys(dir2, func(n string) string {
		if n == EnvFernetKey {
			return envKey
		}
		return ""
	})
	if err != nil || len(created) != 2 || k3.current.text != envKey {
		t.Fatalf("EnsureKeys with env: %v, created %v", err, created)
	}
}

func TestRotateFernetKey(t *testing.T) {
	dir := t.TempDir()
	before, err := GenerateKeys(dir, false)
	if err != nil {
		t.Fatal(err)
	}
	doc := smallDoc(t, 42)
	old, err := Seal(before, V2, "community", doc, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := RotateFernetKey(dir); err != nil {
		t.Fatal(err)
	}
	after, err := LoadKeys(dir, noEnv)
	if err != nil {
		t.Fatal(err)
	}
	if after.current.text == before.current.text || after.previous == nil || after.previous.text != before.current.text {
		t.Fatal("rotation did not move the key to fernet.previous.key")
	}
	if o, err := Open(after, old); err != nil || !o.PreviousKey {
		t.Fatalf("old envelope after rotation: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, PreviousFernetKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Errorf("fernet.previous.key mode %v", fi.Mode().Perm())
	}
}
