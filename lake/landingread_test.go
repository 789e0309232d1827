package lake

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// parseDecimal must agree with strconv.ParseFloat bit for bit wherever it
// answers.
func TestParseDecimalMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	check := func(s string) {
		got, ok := parseDecimal([]byte(s))
		want, err := strconv.ParseFloat(s, 64)
		if ok && (err != nil || math.Float64bits(got) != math.Float64bits(want)) {
			t.Fatalf("parseDecimal(%q) = %v, strconv %v (%v)", s, got, want, err)
		}
	}
	for _, s := range []string{"0", "-0", "1", "21.5", "-3.25", "1769904000.123", "0.1", "0.3", "123456789012345",
		"999999999999999", "1234567890.12345", "1.", ".5", "1e5", "12345678901234567", "--1", "1.2.3", ""} {
		check(s)
	}
	for i := 0; i < 200000; i++ {
		v := (rng.Float64() - 0.5) * math.Pow(10, float64(rng.IntN(12)))
		check(strconv.FormatFloat(v, 'f', rng.IntN(8), 64))
		check(strconv.FormatFloat(v, 'f', -1, 64))
	}
}

func FuzzParseDecimal(f *testing.F) {
	for _, s := range []string{"21.5", "-0.001", "1769904000.123", "1e5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDecimal([]byte(s))
		if !ok {
			return
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil || math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("parseDecimal(%q) = %v, strconv %v (%v)", s, got, want, err)
		}
	})
}
