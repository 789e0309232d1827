package simulate

import "math"

// The generator carries its own pseudo-random number generator instead of
// math/rand/v2 so that the byte stream it produces for a seed is fixed by this
// package alone: a Go release that changes how math/rand/v2 derives normal or
// exponential variates cannot change our golden outputs.

// splitmix64 advances *s and returns the next SplitMix64 output. It expands
// one seed into independent streams and hashes (seed, slot, channel) tuples.
func splitmix64(s *uint64) uint64 {
	*s += 0x9e3779b97f4a7c15
	z := *s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// mix hashes a seed and two words into one well-distributed word.
func mix(seed, a, b uint64) uint64 {
	s := seed ^ (a * 0xd1b54a32d192ed03) ^ (b * 0xaef17502108ef2d9)
	return splitmix64(&s)
}

// Stream identifiers: each concern draws from its own stream so that, for
// example, turning fault injection on never perturbs the physics.
const (
	streamParams uint64 = iota + 1
	streamPhysics
	streamFaults
	streamNoise
	streamJitter
	streamID
)

// rng is xoshiro256**: fast, 256 bits of state, good statistical quality.
type rng struct {
	s     [4]uint64
	spare float64
	has   bool
}

func newRNG(seed, stream uint64) *rng {
	x := seed ^ (stream * 0x9e3779b97f4a7c15)
	r := &rng{}
	for i := range r.s {
		r.s[i] = splitmix64(&x)
	}
	return r
}

func rotl(x uint64, k uint) uint64 { return x<<k | x>>(64-k) }

func (r *rng) uint64() uint64 {
	s := &r.s
	out := rotl(s[1]*5, 7) * 9
	t := s[1] << 17
	s[2] ^= s[0]
	s[3] ^= s[1]
	s[1] ^= s[2]
	s[0] ^= s[3]
	s[2] ^= t
	s[3] = rotl(s[3], 45)
	return out
}

// float64 returns a uniform value in [0, 1).
func (r *rng) float64() float64 { return float64(r.uint64()>>11) * 0x1p-53 }

// uniform returns a uniform value in [a, b).
func (r *rng) uniform(a, b float64) float64 { return a + (b-a)*r.float64() }

// intn returns a uniform integer in [0, n).
func (r *rng) intn(n int) int { return int((r.uint64() >> 1) % uint64(n)) }

// chance reports true with probability p.
func (r *rng) chance(p float64) bool { return r.float64() < p }

// norm returns a standard normal variate (Marsaglia's polar method).
func (r *rng) norm() float64 {
	if r.has {
		r.has = false
		return r.spare
	}
	for {
		u := 2*r.float64() - 1
		v := 2*r.float64() - 1
		s := u*u + v*v
		if s > 0 && s < 1 {
			f := math.Sqrt(-2 * math.Log(s) / s)
			r.spare, r.has = v*f, true
			return u * f
		}
	}
}

// exp returns an exponential variate with mean 1.
func (r *rng) exp() float64 { return -math.Log(1 - r.float64()) }

// triangular maps a hashed word to a triangular variate on (-1, 1) with
// standard deviation 1/sqrt(6). Sensor noise uses it: it is cheap, bounded and
// random-access (a function of seed, slot and channel, not of call order), so
// the noise on a channel does not depend on which other channels are emitted.
func triangular(h uint64) float64 {
	a := float64(h>>32) * 0x1p-32
	b := float64(h&0xffffffff) * 0x1p-32
	return a + b - 1
}
