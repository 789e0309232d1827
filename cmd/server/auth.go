package server

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
)

// Tokens is the set of bearer tokens accepted at once; several are valid
// during a rotation.
type Tokens struct {
	digests [][32]byte
}

// NewTokens builds the set; empty tokens are ignored.
func NewTokens(tokens ...string) *Tokens {
	t := &Tokens{}
	for _, s := range tokens {
		if s = strings.TrimSpace(s); s != "" {
			t.digests = append(t.digests, sha256.Sum256([]byte(s)))
		}
	}
	return t
}

// Len is the number of valid tokens.
func (t *Tokens) Len() int { return len(t.digests) }

// Valid compares tok with every valid token in constant time. Comparing
// fixed-size digests hides the tokens' lengths, and the loop never exits
// early, so timing reveals neither which token matched nor how much of it.
func (t *Tokens) Valid(tok string) bool {
	d := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range t.digests {
		ok |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return ok == 1
}

// TokenSource says where the tokens came from, for the start-up banner.
type TokenSource struct {
	Tokens    []string
	File      string // the file read or generated, "" for the environment
	Generated bool
}

// LoadTokens reads the tokens from file (one per line, # comments) or,
// when file is empty, from env (comma-separated). With neither, a random
// token is generated once and kept in dataDir/token.
func LoadTokens(file, env, dataDir string) (*TokenSource, error) {
	switch {
	case file != "":
		toks, err := readTokenFile(file)
		if err != nil {
			return nil, err
		}
		if len(toks) == 0 {
			return nil, fmt.Errorf("tokens file %s holds no token; put one per line", file)
		}
		return &TokenSource{Tokens: toks, File: file}, nil
	case strings.TrimSpace(env) != "":
		var toks []string
		for _, s := range strings.Split(env, ",") {
			if s = strings.TrimSpace(s); s != "" {
				toks = append(toks, s)
			}
		}
		return &TokenSource{Tokens: toks}, nil
	}
	path := filepath.Join(dataDir, "token")
	toks, err := readTokenFile(path)
	if err == nil && len(toks) > 0 {
		return &TokenSource{Tokens: toks, File: path}, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, err
	}
	if err := WriteFileAtomic(path, []byte(tok+"\n"), 0o600); err != nil {
		return nil, fmt.Errorf("write generated token: %w", err)
	}
	return &TokenSource{Tokens: []string{tok}, File: path, Generated: true}, nil
}

func readTokenFile(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	var toks []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		toks = append(toks, line)
	}
	return toks, sc.Err()
}

// bearer extracts the token of an "Authorization: Bearer X" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// RequireToken answers 401 without an Authorization header and 403 with a
// wrong scheme or token, before the handler reads the body.
func (s *Server) RequireToken(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := r.Header.Get("Authorization")
		if h == "" {
			s.deny(w, r, http.StatusUnauthorized, "unauthorized", "missing Authorization header; send Authorization: Bearer <token>")
			return
		}
		if tok, ok := bearer(h); !ok || !s.tokens.Valid(tok) {
			s.deny(w, r, http.StatusForbidden, "forbidden", "invalid token; check the Bearer token the collector sends")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// CheckTokenIfPresent lets requests without Authorization through (the
// model check that collectors call anonymously) but refuses a wrong one.
func (s *Server) CheckTokenIfPresent(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h := r.Header.Get("Authorization"); h != "" {
			if tok, ok := bearer(h); !ok || !s.tokens.Valid(tok) {
				s.deny(w, r, http.StatusForbidden, "forbidden", "invalid token; send a valid Bearer token or none")
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}
