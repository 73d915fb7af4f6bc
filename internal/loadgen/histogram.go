package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// Latencies are recorded in microseconds into a log-linear histogram: values below 2^subBits fall in
// buckets of width 1, and every power of two above is split into 2^subBits buckets of equal width, so a
// bucket is at most 1/32 (about 3 %) of its values wide. Values from 1 µs to 2^maxPow µs (about 12 days)
// take numBuckets counters; larger ones are counted in the last bucket.
const (
	subBits    = 5
	subCount   = 1 << subBits
	maxPow     = 40
	numBuckets = (maxPow - subBits + 2) * subCount
)

// histogram counts durations. Record is safe for concurrent use (atomic counters, no lock); reading
// while others record gives a view that may miss the records in flight.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	n      atomic.Uint64
	sum    atomic.Uint64 // µs
	min    atomic.Uint64 // µs + 1; 0: no value yet
	max    atomic.Uint64 // µs
}

func bucketOf(us uint64) int {
	if us < subCount {
		return int(us)
	}
	k := bits.Len64(us) - subBits - 1 // us>>k is in [subCount, 2*subCount)
	i := (k+1)*subCount + int(us>>k) - subCount
	if i >= numBuckets {
		return numBuckets - 1
	}
	return i
}

// bucketBounds returns the smallest and largest value (µs) of bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subCount {
		return uint64(i), uint64(i)
	}
	k := i/subCount - 1
	lo = uint64(subCount+i%subCount) << k
	return lo, lo + 1<<k - 1
}

// Record adds one duration (negative ones count as zero).
func (h *histogram) Record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)].Add(1)
	h.n.Add(1)
	h.sum.Add(us)
	for {
		m := h.min.Load()
		if m != 0 && m <= us+1 || h.min.CompareAndSwap(m, us+1) {
			break
		}
	}
	for {
		m := h.max.Load()
		if m >= us || h.max.CompareAndSwap(m, us) {
			break
		}
	}
}

// Count returns the number of recorded values.
func (h *histogram) Count() uint64 { return h.n.Load() }

// Quantile returns the value at quantile q (0 ≤ q ≤ 1) in milliseconds: the upper bound of the bucket
// holding it, clipped to the largest value recorded. Zero when nothing was recorded.
func (h *histogram) Quantile(q float64) float64 {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(n)))
	rank = max(rank, 1)
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return usToMs(min(hi, h.max.Load()))
		}
	}
	return usToMs(h.max.Load())
}

func usToMs(us uint64) float64 { return float64(us) / 1000 }

// summary returns the histogram's figures for the result.
func (h *histogram) summary() LatencyStats {
	n := h.n.Load()
	s := LatencyStats{Count: n, Buckets: []Bucket{}}
	if n == 0 {
		return s
	}
	s.MinMs = usToMs(h.min.Load() - 1)
	s.MaxMs = usToMs(h.max.Load())
	s.MeanMs = usToMs(h.sum.Load()) / float64(n)
	s.P50Ms, s.P90Ms, s.P99Ms, s.P999Ms = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99), h.Quantile(0.999)
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			lo, hi := bucketBounds(i)
			s.Buckets = append(s.Buckets, Bucket{FromMs: usToMs(lo), ToMs: usToMs(hi + 1), Count: c})
		}
	}
	return s
}
