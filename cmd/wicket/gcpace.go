package main

import (
	"context"
	"log/slog"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// The collector's pace for a server whose live heap is mostly its directory.
//
// At 100,000 accounts the directory is some 60 MB of small objects that
// every collection marks again, while each password+code bind allocates
// argon2id's memory (19 MiB by default) and lets it go. Go's default
// (GOGC=100) collects after as much new allocation as the live heap: five
// password binds a second then meant a collection about every second, and
// lookups running through its write barriers and assists fell to a third
// of their rate (bench/background.sh --mode lookup). Collecting after four
// times the live heap (GOGC=400) keeps them at their quiet rate; a soft
// memory limit of four times the live heap, never under gcFloor, keeps a
// small server's memory where it was, so that a flood of password binds
// stays within the documented bound. The limit follows the live heap as
// the directory grows, and never comes near it, so the collector cannot
// be driven to run without pause. GOGC or GOMEMLIMIT in the environment
// leave all of this to the operator.
const (
	gcPercent = 400
	gcFloor   = 160 << 20
	// gcRepace is how often the limit follows the live heap. The live heap
	// grows by half in the first seconds of a lookup load (connections,
	// buffers) and by argon2id's kept memory after the first password
	// binds; a limit still at four times the heap of the start collects
	// twice as often until it catches up (measured: 156 collections
	// instead of 84 in 40 s of lookups, and a third of the lookups lost
	// while password binds ran). Reading one metric is microseconds.
	gcRepace = 2 * time.Second
)

// paceGC sets the collector's pace, and keeps the limit at four times the
// live heap until ctx ends.
func paceGC(ctx context.Context, log *slog.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		return
	}
	debug.SetGCPercent(gcPercent)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	limit := func() int64 {
		metrics.Read(sample)
		live := int64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = int64(sample[0].Value.Uint64())
		}
		l := max(gcFloor, 4*live)
		debug.SetMemoryLimit(l)
		return l
	}
	log.Debug("garbage collector paced", "gogc", gcPercent, "memory_limit_mib", limit()>>20)
	go func() {
		t := time.NewTicker(gcRepace)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				limit()
			}
		}
	}()
}
