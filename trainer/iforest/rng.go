package iforest

import (
	"math/bits"
	"math/rand/v2"
)

// rng draws the random numbers of one tree. The bits come from PCG-DXSM,
// whose output is fixed by its specification; the reductions to integers and
// floats are written here rather than taken from rand.Rand so that they stay
// the same on 32-bit platforms and in later Go releases, and with them the
// model bytes.
type rng struct {
	pcg  rand.PCG
	norm *rand.Rand // NormFloat64 over the same stream, for hyperplanes
}

func newRNG() *rng {
	r := &rng{}
	r.norm = rand.New(&r.pcg)
	return r
}

// seedTree positions r at the start of tree t's stream for seed. Distinct
// trees get distinct PCG states because mix64 is a bijection.
func (r *rng) seedTree(seed uint64, t int) {
	state := seed ^ mix64(uint64(t)+0x632be59bd9b4e019)
	r.pcg.Seed(splitmix64(&state), splitmix64(&state))
}

// intn returns a uniform integer in [0, n), n > 0, by Lemire's
// multiply-and-reject method.
func (r *rng) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.pcg.Uint64(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.pcg.Uint64(), un)
		}
	}
	return int(hi)
}

// float64 returns a uniform float64 in [0, 1) with 53 random bits.
func (r *rng) float64() float64 {
	return float64(r.pcg.Uint64()>>11) / (1 << 53)
}

// normal returns a standard normal variate.
func (r *rng) normal() float64 { return r.norm.NormFloat64() }

func splitmix64(state *uint64) uint64 {
	*state += 0x9e3779b97f4a7c15
	return mix64(*state)
}

// mix64 is SplitMix64's finaliser, a bijection on uint64.
func mix64(z uint64) uint64 {
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}
