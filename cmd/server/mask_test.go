package server

import "testing"

func TestMaskIP(t *testing.T) {
	for in, want := range map[string]string{
		"192.168.1.23":                       "192.168.xxx.xxx",
		"192.168.1.23:5555":                  "192.168.xxx.xxx",
		"10.0.0.1":                           "10.0.xxx.xxx",
		"::ffff:192.168.1.2":                 "192.168.xxx.xxx",
		"[2001:db8:85a3::8a2e:370:7334]:443": "2001:db8:85a3:xxxx:xxxx:xxxx:xxxx:xxxx",
		"2001:0db8:0000:1:2:3:4:5":           "2001:db8:0:xxxx:xxxx:xxxx:xxxx:xxxx",
		"::1":                                "0:0:0:xxxx:xxxx:xxxx:xxxx:xxxx",
		"fe80::1%eth0":                       "fe80:0:0:xxxx:xxxx:xxxx:xxxx:xxxx",
		"not an ip":                          "invalid",
		"":                                   "invalid",
	} {
		if got := MaskIP(in); got != want {
			t.Errorf("MaskIP(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTokensValid(t *testing.T) {
	toks := NewTokens("alpha", " beta ", "")
	if toks.Len() != 2 {
		t.Fatalf("Len = %d", toks.Len())
	}
	for tok, want := range map[string]bool{"alpha": true, "beta": true, "alph": false, "alphaa": false, "": false} {
		if toks.Valid(tok) != want {
			t.Errorf("Valid(%q) = %v", tok, !want)
		}
	}
}
