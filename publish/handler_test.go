package publish

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func decodeJSON(t testing.TB, body []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	return m
}

// servedHarness publishes an exact model, a family model and the
// community model.
func servedHarness(t *testing.T) (*harness, map[string]PublishResult) {
	h := newHarness(t, memStore(t).open(), testKeys(t), newClock(testNow))
	pub := map[string]PublishResult{}
	for i, name := range []string{"AERO_SLM_3-11", "TERRA_SW", "community"} {
		pub[name] = h.publish(t, name, smallDoc(t, 10+i))
	}
	return h, pub
}

func checkURL(id, model string, extra ...string) string {
	q := url.Values{}
	if id != "-" {
		q.Set("installation_id", id)
	}
	if model != "" {
		q.Set("model", model)
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return "/api/v1/model/check?" + q.Encode()
}

func TestCheck(t *testing.T) {
	h, pub := servedHarness(t)
	empty := newHarness(t, memStore(t).open(), testKeys(t), newClock(testNow))
	exact := pub["AERO_SLM_3-11"].Release.Artefacts[V2].ModelHash
	exactV3 := pub["AERO_SLM_3-11"].Release.Artefacts[V3].ModelHash
	tests := []struct {
		name     string
		h        *harness
		path     string
		headers  []string
		status   int
		eligible bool
		hash     string // "" for null
		update   bool
		scope    string
	}{
		{"eligible, no current hash", h, checkURL(eligibleID, "AERO SLM 3-11"), nil, 200, true, exact, true, "exact"},
		{"storage name", h, checkURL(eligibleID, "AERO_SLM_3-11"), nil, 200, true, exact, true, "exact"},
		{"up to date", h, checkURL(eligibleID, "AERO SLM 3-11", "current_hash", exact), nil, 200, true, exact, false, "exact"},
		{"up to date, upper case", h, checkURL(eligibleID, "AERO SLM 3-11", "current_hash", strings.ToUpper(exact)), nil, 200, true, exact, false, "exact"},
		{"outdated", h, checkURL(eligibleID, "AERO SLM 3-11", "current_hash", strings.Repeat("0", 64)), nil, 200, true, exact, true, "exact"},
		{"format 3", h, checkURL(eligibleID, "AERO SLM 3-11", "format", "3", "current_hash", exact), nil, 200, true, exactV3, true, "exact"},
		{"family", h, checkURL(eligibleID, "TERRA SW 6-17"), nil, 200, true, pub["TERRA_SW"].Release.Artefacts[V2].ModelHash, true, "family"},
		{"community fallback", h, checkURL(eligibleID, "iPUMP A3-11"), nil, 200, true, pub["community"].Release.Artefacts[V2].ModelHash, true, "community"},
		{"no model sent", h, checkURL(eligibleID, ""), nil, 200, true, pub["community"].Release.Artefacts[V2].ModelHash, true, "community"},
		{"not eligible", h, checkURL(notEligibleID, "AERO SLM 3-11"), nil, 200, false, exact, true, "exact"},
		{"upper-case uuid", h, checkURL(strings.ToUpper(eligibleID), "AERO SLM 3-11"), nil, 200, true, exact, true, "exact"},
		{"no model published", empty, checkURL(eligibleID, "AERO SLM 3-11"), nil, 200, true, "", false, ""},
		{"valid token", h, checkURL(eligibleID, "AERO SLM 3-11"), []string{"Authorization", "Bearer " + testToken}, 200, true, exact, true, "exact"},
		{"wrong token", h, checkURL(eligibleID, "AERO SLM 3-11"), []string{"Authorization", "Bearer nope"}, 403, false, "", false, ""},
		{"no installation_id", h, checkURL("-", "AERO SLM 3-11"), nil, 400, false, "", false, ""},
		{"bad uuid", h, checkURL("not-a-uuid", ""), nil, 400, false, "", false, ""},
		{"uuid in braces", h, checkURL("{"+eligibleID+"}", ""), nil, 400, false, "", false, ""},
		{"nil uuid", h, checkURL("00000000-0000-0000-0000-000000000000", ""), nil, 400, false, "", false, ""},
		{"model with slash", h, checkURL(eligibleID, "../../etc/passwd"), nil, 400, false, "", false, ""},
		{"model with unicode", h, checkURL(eligibleID, "Wärmepumpe"), nil, 400, false, "", false, ""},
		{"model too long", h, checkURL(eligibleID, strings.Repeat("A", 101)), nil, 400, false, "", false, ""},
		{"bad format", h, checkURL(eligibleID, "", "format", "7"), nil, 400, false, "", false, ""},
		{"malformed escape", h, "/api/v1/model/check?installation_id=" + eligibleID + "&model=%zz", nil, 400, false, "", false, ""},
		{"semicolon", h, "/api/v1/model/check?installation_id=" + eligibleID + ";model=x", nil, 400, false, "", false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.h.get(t, tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			m := decodeJSON(t, body)
			if tt.status != 200 {
				if d, ok := m["detail"].(string); !ok || d == "" || len(m) != 1 {
					t.Fatalf("error body %s", body)
				}
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			for _, k := range []string{"eligible", "reason", "reason_de", "model_available", "model_hash", "update_available", "model_metadata", "data_pool"} {
				if _, ok := m[k]; !ok {
					t.Errorf("key %s missing: %s", k, body)
				}
			}
			if m["eligible"] != tt.eligible || m["update_available"] != tt.update || m["model_available"] != (tt.hash != "") {
				t.Errorf("body %s", body)
			}
			if _, ok := m["data_pool"].(map[string]any); !ok {
				t.Errorf("data_pool is not an object: %s", body)
			}
			if r, _ := m["reason"].(string); r == "" {
				t.Errorf("no reason: %s", body)
			}
			if tt.hash == "" {
				if m["model_hash"] != nil || m["model_metadata"] != nil {
					t.Errorf("no model, but %s", body)
				}
				return
			}
			if m["model_hash"] != tt.hash {
				t.Errorf("model_hash %v, want %s", m["model_hash"], tt.hash)
			}
			meta, ok := m["model_metadata"].(map[string]any)
			if !ok || meta["scope"] != tt.scope || meta["heatpump_model"] != "AERO SLM 3-11" || meta["release"] != m["release"] {
				t.Errorf("model_metadata %v", m["model_metadata"])
			}
		})
	}
	if got := testutil.ToFloat64(h.handler.m.checkInvalid); got != 10 {
		t.Errorf("invalid checks counted %v, want 10", got)
	}
	if got := testutil.ToFloat64(h.handler.m.checkNotEligible); got != 1 {
		t.Errorf("not-eligible checks counted %v", got)
	}
}

func TestDownload(t *testing.T) {
	h, pub := servedHarness(t)
	empty := newHarness(t, memStore(t).open(), testKeys(t), newClock(testNow))
	fk, _ := NewFernetKey()
	v2Only, _ := NewKeys(fk)
	unsigned := newHarness(t, memStore(t).open(), v2Only, newClock(testNow))
	unsigned.publish(t, "community", smallDoc(t, 1))

	rel := pub["AERO_SLM_3-11"].Release
	auth := []string{"Authorization", "Bearer " + testToken}
	dl := "/api/v1/model/download?installation_id=" + eligibleID + "&model=AERO+SLM+3-11"
	with := func(h ...string) []string { return append(append([]string{}, auth...), h...) }
	tests := []struct {
		name    string
		h       *harness
		path    string
		headers []string
		status  int
		format  Format
	}{
		{"v2", h, dl, auth, 200, V2},
		{"v3 by query", h, dl + "&format=3", auth, 200, V3},
		{"v3 by query 3.0", h, dl + "&format=3.0", auth, 200, V3},
		{"v3 by Accept", h, dl, with("Accept", MediaTypeV3), 200, V3},
		{"query wins over Accept", h, dl + "&format=2", with("Accept", MediaTypeV3), 200, V2},
		{"if-none-match", h, dl, with("If-None-Match", `"`+rel.Artefacts[V2].ModelHash+`"`), 304, V2},
		{"if-none-match weak in list", h, dl, with("If-None-Match", `"x", W/"`+rel.Artefacts[V2].ModelHash+`"`), 304, V2},
		{"if-none-match star", h, dl, with("If-None-Match", `*`), 304, V2},
		{"if-none-match other", h, dl, with("If-None-Match", `"`+rel.Artefacts[V3].ModelHash+`"`), 200, V2},
		{"no token", h, dl, nil, 401, ""},
		{"wrong token", h, dl, []string{"Authorization", "Bearer nope"}, 403, ""},
		{"basic auth", h, dl, []string{"Authorization", "Basic " + testToken}, 403, ""},
		{"not eligible", h, "/api/v1/model/download?installation_id=" + notEligibleID, auth, 403, ""},
		{"bad uuid", h, "/api/v1/model/download?installation_id=nope", auth, 400, ""},
		{"bad model", h, "/api/v1/model/download?installation_id=" + eligibleID + "&model=a%2Fb", auth, 400, ""},
		{"bad format", h, dl + "&format=x", auth, 400, ""},
		{"malformed escape", h, dl + "&model=%zz", auth, 400, ""},
		{"no model", empty, dl, auth, 404, ""},
		{"no v3 envelope", unsigned, dl + "&format=3", auth, 404, ""},
		{"unsigned v2", unsigned, dl, auth, 200, V2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := tt.h.get(t, tt.path, tt.headers...)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			switch tt.status {
			case 200:
			case 304:
				if len(body) != 0 || resp.Header.Get("ETag") == "" {
					t.Errorf("304 with body %q, etag %q", body, resp.Header.Get("ETag"))
				}
				return
			default:
				if m := decodeJSON(t, body); m["detail"] == nil {
					t.Errorf("error body %s", body)
				}
				return
			}
			hash := resp.Header.Get("X-Model-Hash")
			name := resp.Header.Get("X-Model-Name")
			if hashHex(body) != hash {
				t.Fatalf("X-Model-Hash %s, sha256 of body %s", hash, hashHex(body))
			}
			if resp.Header.Get("ETag") != `"`+hash+`"` {
				t.Errorf("ETag %q", resp.Header.Get("ETag"))
			}
			if cd := resp.Header.Get("Content-Disposition"); cd != `attachment; filename="`+name+`.enc"` {
				t.Errorf("Content-Disposition %q", cd)
			}
			wantType := "application/octet-stream"
			if tt.format == V3 {
				wantType = MediaTypeV3
			}
			if ct := resp.Header.Get("Content-Type"); ct != wantType {
				t.Errorf("Content-Type %q, want %q", ct, wantType)
			}
			o, err := Open(tt.h.keys, body)
			if err != nil || o.Format != tt.format {
				t.Fatalf("open: %v, format %v", err, o)
			}
			// The check of the same model announces the same hash.
			m := decodeJSON(t, mustGet(t, tt.h, checkURL(eligibleID, "AERO SLM 3-11", "format", string(tt.format))))
			if m["model_hash"] != hash {
				t.Errorf("check says %v, download sent %s", m["model_hash"], hash)
			}
		})
	}
	if got := testutil.ToFloat64(h.handler.m.bytes(V2)); got == 0 {
		t.Error("served bytes not counted")
	}
	if got := testutil.ToFloat64(h.handler.m.download(V2, "not_modified")); got != 3 {
		t.Errorf("304s counted %v, want 3", got)
	}
}

func mustGet(t testing.TB, h *harness, path string) []byte {
	t.Helper()
	resp, body := h.get(t, path)
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	return body
}

// TestPublicKeyVerifiesV3 plays a collector that opted into envelope 3.0:
// it fetches the public key, downloads the envelope and verifies it with
// the public key and the shared Fernet key only. A forged envelope, signed
// with the shared key alone, is refused.
func TestPublicKeyVerifiesV3(t *testing.T) {
	h, _ := servedHarness(t)
	resp, pemBytes := h.get(t, "/api/v1/model/pubkey")
	if resp.StatusCode != 200 || resp.Header.Get("X-Key-Id") != h.keys.KeyID() {
		t.Fatalf("pubkey: %d %q", resp.StatusCode, resp.Header.Get("X-Key-Id"))
	}
	pub, err := ParsePublicKeyPEM(pemBytes)
	if err != nil {
		t.Fatal(err)
	}
	collector, err := NewKeys(h.keys.current.text, WithPublicKey(pub))
	if err != nil {
		t.Fatal(err)
	}
	resp, env := h.get(t, "/api/v1/model/download?installation_id="+eligibleID+"&format=3", "Authorization", "Bearer "+testToken)
	if resp.StatusCode != 200 {
		t.Fatal(resp.StatusCode)
	}
	if _, err := Open(collector, env); err != nil {
		t.Fatalf("v3 does not verify with the served public key: %v", err)
	}
	// A forger who knows the shared Fernet key (collectors ship it) seals
	// another document with a key pair of their own.
	forger, _ := NewKeys(h.keys.current.text, WithSigningKey(testKeys(t).signing))
	forged, err := Seal(forger, V3, "community", smallDoc(t, 666), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	forged = bytes.Replace(forged, []byte(forger.KeyID()), []byte(h.keys.KeyID()), 1)
	if _, err := Open(collector, forged); err == nil {
		t.Fatal("a forged envelope 3.0 verified")
	}

	noKey := newHarness(t, memStore(t).open(), nil, newClock(testNow))
	if resp, _ := noKey.get(t, "/api/v1/model/pubkey"); resp.StatusCode != 404 {
		t.Errorf("pubkey without key: %d", resp.StatusCode)
	}
}

func TestNewHandlerNeedsGate(t *testing.T) {
	cat := newCatalog(t, memStore(t).open(), nil, newClock(testNow))
	if _, err := NewHandler(cat, nil, nil); err == nil {
		t.Error("NewHandler without gate succeeded")
	}
}
