package loadgen

import (
	"math"
	"math/bits"
	"time"
)

// A Histogram counts latencies in log-linear buckets, in nanoseconds: one
// bucket per nanosecond below 256 ns, then 128 buckets of equal width per
// power of two, up to 2^40 ns (18 minutes; longer ones share the last
// bucket). A bucket is at most 1/128 of its lower bound wide, so its
// midpoint is within 0.4% of any latency in it, and memory is fixed (35 KB)
// however many operations are recorded. The zero value is empty and ready.
type Histogram struct {
	counts [histBuckets]uint64
	n      uint64
	sum    uint64 // nanoseconds
	min    time.Duration
	max    time.Duration
}

const (
	histSubBits = 7
	histSub     = 1 << histSubBits
	histMaxBits = 40
	histBuckets = (histMaxBits - histSubBits + 1) * histSub
)

// bucket is the index of the bucket of v nanoseconds.
func bucket(v uint64) int {
	if v < 2*histSub {
		return int(v)
	}
	e := bits.Len64(v) - histSubBits - 1
	i := e<<histSubBits + int(v>>e)
	return min(i, histBuckets-1)
}

// bucketRange is the lowest value of bucket i and its width.
func bucketRange(i int) (lo, width uint64) {
	if i < 2*histSub {
		return uint64(i), 1
	}
	e := i>>histSubBits - 1
	return uint64(i-e<<histSubBits) << e, 1 << e
}

// Record counts one latency; a negative one counts as 0.
func (h *Histogram) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucket(uint64(d))]++
	if h.n == 0 || d < h.min {
		h.min = d
	}
	h.max = max(h.max, d)
	h.n++
	h.sum += uint64(d)
}

// Merge adds every latency of o.
func (h *Histogram) Merge(o *Histogram) {
	if o.n == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.n == 0 || o.min < h.min {
		h.min = o.min
	}
	h.max = max(h.max, o.max)
	h.n += o.n
	h.sum += o.sum
}

// Reset empties h.
func (h *Histogram) Reset() { *h = Histogram{} }

// Count is the number of latencies recorded.
func (h *Histogram) Count() uint64 { return h.n }

// Max is the longest latency recorded, exactly.
func (h *Histogram) Max() time.Duration { return h.max }

// Mean is the mean latency, exactly (to the nanosecond).
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return time.Duration(h.sum / h.n)
}

// Percentile is the latency at or below which a fraction q (0 to 1) of the
// latencies are: the nearest-rank sample's bucket's midpoint, kept within
// the exact minimum and maximum.
func (h *Histogram) Percentile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = min(max(rank, 1), h.n)
	if rank == h.n {
		return h.max
	}
	var seen uint64
	for i, c := range h.counts {
		if seen += c; seen >= rank {
			lo, w := bucketRange(i)
			mid := time.Duration(lo + (w-1)/2)
			return min(max(mid, h.min), h.max)
		}
	}
	return h.max
}
