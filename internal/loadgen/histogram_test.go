package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// Every value falls in a bucket that holds it, and no bucket is wider than
// 1/128 of its lower bound, from 1 ns to 2^40 ns.
func TestHistogramBuckets_CoverEveryValueNarrowly(t *testing.T) {
	t.Parallel()
	check := func(v uint64) {
		i := bucket(v)
		lo, w := bucketRange(i)
		if v < lo || v >= lo+w {
			t.Fatalf("%d ns in bucket %d, which holds [%d, %d)", v, i, lo, lo+w)
		}
		if w > 1 && float64(w)/float64(lo) > 1.0/histSub {
			t.Fatalf("bucket %d is %d ns wide at %d ns", i, w, lo)
		}
	}
	for v := uint64(0); v < 1<<16; v++ {
		check(v)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 1_000_000 {
		check(r.Uint64N(1 << histMaxBits))
	}
	check(1<<histMaxBits - 1)
	if i := bucket(1<<histMaxBits - 1); i != histBuckets-1 {
		t.Errorf("the longest value is in bucket %d of %d", i, histBuckets)
	}
	if i := bucket(math.MaxUint64); i != histBuckets-1 {
		t.Errorf("a value past the range is in bucket %d, want the last", i)
	}
}

// exactPercentile is the nearest-rank percentile of sorted values.
func exactPercentile(sorted []time.Duration, q float64) time.Duration {
	rank := int(math.Ceil(q * float64(len(sorted))))
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// On random latencies spread over six orders of magnitude, recorded by 16
// workers and merged, every percentile is within 1% of the exact one, and
// the mean and maximum are exact.
func TestHistogramPercentiles_WithinOnePercentOfExact(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(3, 4))
	var samples []time.Duration
	workers := make([]Histogram, 16)
	var sum time.Duration
	for i := range 200_000 {
		// Log-normal around 1 ms, as request latencies are, from about
		// 1 µs to about 1 s.
		d := time.Duration(math.Exp(r.NormFloat64()*1.5) * float64(time.Millisecond))
		d = min(max(d, time.Microsecond), time.Minute)
		samples = append(samples, d)
		workers[i%len(workers)].Record(d)
		sum += d
	}
	var h Histogram
	for i := range workers {
		h.Merge(&workers[i])
	}
	slices.Sort(samples)
	if h.Count() != uint64(len(samples)) {
		t.Fatalf("count %d, want %d", h.Count(), len(samples))
	}
	for _, q := range []float64{0.001, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 0.9999} {
		want, got := exactPercentile(samples, q), h.Percentile(q)
		if e := math.Abs(float64(got-want)) / float64(want); e > 0.01 {
			t.Errorf("p%v: %v, exact %v: %.2f%% off", q*100, got, want, e*100)
		}
	}
	if h.Max() != samples[len(samples)-1] || h.Percentile(1) != h.Max() {
		t.Errorf("max %v, p100 %v; want %v", h.Max(), h.Percentile(1), samples[len(samples)-1])
	}
	if want := sum / time.Duration(len(samples)); h.Mean() != want {
		t.Errorf("mean %v, want %v", h.Mean(), want)
	}
}

// The ends of the range a load test meets, 1 µs and a minute, are kept
// within 1% too.
func TestHistogram_MicrosecondToMinute(t *testing.T) {
	t.Parallel()
	for _, d := range []time.Duration{time.Microsecond, 1234 * time.Nanosecond, 59 * time.Second, time.Minute, 17 * time.Minute} {
		var h Histogram
		h.Record(d)
		h.Record(d + d/200)
		if got := h.Percentile(0.5); math.Abs(float64(got-d))/float64(d) > 0.01 {
			t.Errorf("%v: p50 %v", d, got)
		}
	}
	var h Histogram
	if h.Percentile(0.5) != 0 || h.Mean() != 0 || h.Max() != 0 {
		t.Error("an empty histogram reports latencies")
	}
	h.Record(-time.Second)
	if h.Max() != 0 || h.Count() != 1 {
		t.Errorf("a negative latency: max %v, count %d", h.Max(), h.Count())
	}
}
