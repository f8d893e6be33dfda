package loadgen

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/wicketldap/wicket/internal/testutil"
)

func TestPacer_SlotsOneIntervalApart(t *testing.T) {
	t.Parallel()
	clk := testutil.NewClock(time.Unix(1_800_000_000, 0))
	p := newPacer(100, clk.Now)
	// Workers asking at once are given the slots in turn: 0, 10, 20 ms...
	for i := range 5 {
		if got, want := p.reserve(), time.Duration(i)*10*time.Millisecond; got != want {
			t.Errorf("slot %d at once: wait %v, want %v", i, got, want)
		}
	}
	// Time catches up with the slots taken: the next is 50 ms from the
	// start, 10 ms from now.
	clk.Add(40 * time.Millisecond)
	if got := p.reserve(); got != 10*time.Millisecond {
		t.Errorf("after 40 ms: wait %v, want 10ms", got)
	}
}

// A run that fell behind (a slow server, a stalled worker) gets no burst
// to catch up: the slots it missed are gone, and the next ones are spaced
// from now.
func TestPacer_NoBurstAfterFallingBehind(t *testing.T) {
	t.Parallel()
	clk := testutil.NewClock(time.Unix(1_800_000_000, 0))
	p := newPacer(100, clk.Now)
	p.reserve()
	clk.Add(5 * time.Second)
	for i, want := range []time.Duration{0, 10 * time.Millisecond, 20 * time.Millisecond} {
		if got := p.reserve(); got != want {
			t.Errorf("slot %d after a 5 s stall: wait %v, want %v", i, got, want)
		}
	}
}

// Over any window, at most window×rate+1 operations start, whatever the
// callers do: here they come at uneven times, some late, some at once.
func TestPacer_NeverMoreThanTheRateInAnyWindow(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{1, 7.5, 100, 2500} {
		clk := testutil.NewClock(time.Unix(1_800_000_000, 0))
		p := newPacer(rate, clk.Now)
		var starts []time.Time
		gaps := []time.Duration{0, 0, 3 * time.Millisecond, 0, 250 * time.Millisecond, 0, 0, 0, 1100 * time.Millisecond, 0}
		for i := range 400 {
			clk.Add(gaps[i%len(gaps)])
			starts = append(starts, clk.Now().Add(p.reserve()))
		}
		// Slots are handed out in order, so the starts are sorted.
		interval := time.Duration(float64(time.Second) / rate)
		for i := 1; i < len(starts); i++ {
			if gap := starts[i].Sub(starts[i-1]); gap < interval {
				t.Fatalf("rate %g: operations %d and %d start %v apart, less than %v", rate, i-1, i, gap, interval)
			}
		}
	}
}

func TestPacer_NoLimit(t *testing.T) {
	t.Parallel()
	for _, rate := range []float64{0, -1, math.NaN(), 1e12} {
		if p := newPacer(rate, time.Now); p != nil {
			t.Errorf("rate %g: a pacer of interval %v, want none", rate, p.interval)
		}
	}
}

// With a rate, a run by count takes at least the time its slots span, and
// a run by duration does no more than the rate allows in it: measured on
// a server that would answer many times faster.
func TestRun_RateCapsOperations(t *testing.T) {
	t.Parallel()
	t.Run("count", func(t *testing.T) {
		t.Parallel()
		r := startResponder(t, &responder{})
		cfg := testConfig(r, ModeBind, testUsers(3))
		cfg.Count, cfg.Rate = 60, 50
		rep := run(t, cfg)
		checkCounts(t, rep, 60, 0)
		// The 60th slot is 59 intervals after the first.
		if min := 59 * time.Second / 50; rep.Duration < min {
			t.Errorf("60 operations at 50/s took %v, less than %v", rep.Duration, min)
		}
		if rep.Rate != 50 {
			t.Errorf("the report's rate is %g, want 50", rep.Rate)
		}
	})
	t.Run("duration", func(t *testing.T) {
		t.Parallel()
		r := startResponder(t, &responder{})
		cfg := testConfig(r, ModeBind, testUsers(3))
		cfg.Count, cfg.Duration, cfg.Rate = 0, 1500*time.Millisecond, 200
		cfg.Concurrency = 8
		rep := run(t, cfg)
		// 1.5 s at 200/s is 300 slots, and one at the start; a worker may
		// be let through by its slot as the run ends. The lower bound only
		// says the load ran, on however busy a machine.
		if rep.Operations > 301+uint64(cfg.Concurrency) || rep.Operations < 100 || rep.Failed != 0 {
			t.Errorf("%d operations (%d failed) in %v at 200/s; want at most %d", rep.Operations, rep.Failed,
				rep.Duration, 301+cfg.Concurrency)
		}
	})
	t.Run("a wait for a slot ends with the run", func(t *testing.T) {
		t.Parallel()
		r := startResponder(t, &responder{})
		cfg := testConfig(r, ModeBind, testUsers(1))
		// Eight workers at one a second: the last slot taken at the start
		// is seven seconds away, and the run ends long before.
		cfg.Count, cfg.Rate, cfg.Concurrency = 0, 1, 8
		ctx, cancel := context.WithTimeout(context.Background(), 1500*time.Millisecond)
		defer cancel()
		cfg.Duration = time.Hour
		rep, err := Run(ctx, cfg)
		if err != nil || !rep.Interrupted || rep.Duration > 5*time.Second || rep.Operations > 3 {
			t.Errorf("report %+v, %v; want interrupted at once with at most 3 operations", rep, err)
		}
	})
}
