package loadgen

import (
	"math"
	"testing"
	"time"
)

func TestBuckets(t *testing.T) {
	prevHi := uint64(0)
	for i := range numBuckets {
		lo, hi := bucketBounds(i)
		if i > 0 && lo != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d, %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		if lo >= subCount && float64(hi-lo+1)/float64(lo) > 1.0/subCount+1e-9 {
			t.Fatalf("bucket %d [%d,%d] is wider than 1/%d of its values", i, lo, hi, subCount)
		}
		prevHi = hi
	}
	if bucketOf(math.MaxUint64) != numBuckets-1 {
		t.Error("the largest value does not land in the last bucket")
	}
}

func TestQuantiles(t *testing.T) {
	var h histogram
	if h.Quantile(0.5) != 0 || h.summary().Count != 0 {
		t.Error("empty histogram")
	}
	for i := 1; i <= 1000; i++ {
		h.Record(time.Duration(i) * time.Millisecond)
	}
	h.Record(-time.Second) // counts as 0
	for q, want := range map[float64]float64{0.5: 500, 0.9: 900, 0.99: 990, 1: 1000} {
		got := h.Quantile(q)
		if got < want || got > want*(1+1.0/subCount) {
			t.Errorf("Quantile(%v) = %v ms, want %v ms within 1/%d", q, got, want, subCount)
		}
	}
	s := h.summary()
	if s.Count != 1001 || s.MinMs != 0 || s.MaxMs != 1000 || math.Abs(s.MeanMs-500500.0/1001) > 0.01 {
		t.Errorf("summary %+v", s)
	}
	var n uint64
	for _, b := range s.Buckets {
		n += b.Count
		if b.ToMs <= b.FromMs {
			t.Errorf("bucket %+v", b)
		}
	}
	if n != s.Count {
		t.Errorf("buckets hold %d values, want %d", n, s.Count)
	}
}

func TestDecadeLabel(t *testing.T) {
	for d, want := range map[int]string{-3: "1µs", -1: "100µs", 0: "1ms", 2: "100ms", 3: "1s", 4: "10s", 6: "1000s"} {
		if got := decadeLabel(d); got != want {
			t.Errorf("decadeLabel(%d) = %q, want %q", d, got, want)
		}
	}
}
