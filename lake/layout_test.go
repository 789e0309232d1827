package lake

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestModelStorageName(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{"AERO SLM 3-11", "AERO_SLM_3-11", true},
		{"TERRA SW 6-17", "TERRA_SW_6-17", true},
		{"iPUMP A3-11", "iPUMP_A3-11", true},
		{"Navigator 2.0 (Pro)", "Navigator_2.0_(Pro)", true},
		{" AERO  SLM 3-11 ", "AERO_SLM_3-11", true},
		{"AERO_SLM_3-11", "AERO_SLM_3-11", true},
		{"", "", false},
		{"   ", "", false},
		{"../etc", "", false},
		{"a..b", "", false},
		{"a/b", "", false},
		{`a\b`, "", false},
		{"a\x00b", "", false},
		{"ümlaut", "", false},
		{strings.Repeat("x", 100), strings.Repeat("x", 100), true},
		{strings.Repeat("x", 101), "", false},
	} {
		got, err := ModelStorageName(tc.in)
		if tc.ok != (err == nil) || got != tc.want {
			t.Errorf("ModelStorageName(%q) = %q, %v; want %q ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidModel) {
			t.Errorf("ModelStorageName(%q): error %v is not ErrInvalidModel", tc.in, err)
		}
	}
}

func TestLandingKey(t *testing.T) {
	var sum [32]byte
	sum[0], sum[15], sum[16] = 0xab, 0x01, 0xff
	at := time.Date(2026, 3, 1, 23, 59, 0, 0, time.FixedZone("CET", 3600))
	got := LandingKey(at, sum)
	want := "landing/2026-03-01/22/ab000000000000000000000000000001.json.zst"
	if got != want {
		t.Fatalf("LandingKey = %q, want %q", got, want)
	}
	if !strings.HasPrefix(got, LandingDayPrefix(at)) {
		t.Fatalf("%q is not under %q", got, LandingDayPrefix(at))
	}
}

func TestModelFamily(t *testing.T) {
	for in, want := range map[string]string{
		"AERO_SLM_3-11": "AERO_SLM", "TERRA_SW_6-17": "TERRA_SW", "iPUMP_A3-11": "iPUMP",
		"AERO_SLM": "AERO_SLM", "X": "X", "ALM_4-12_(2019)": "ALM",
	} {
		if got := ModelFamily(in); got != want {
			t.Errorf("ModelFamily(%q) = %q, want %q", in, got, want)
		}
	}
}
