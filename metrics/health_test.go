package metrics

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHealth_OkOr503WithTheReason(t *testing.T) {
	var fail atomic.Pointer[error]
	srv := httptest.NewServer(NewHealth(func(context.Context) error {
		if err := fail.Load(); err != nil {
			return *err
		}
		return nil
	}))
	defer srv.Close()
	if code, body := get(t, srv.URL); code != 200 || body != "ok\n" {
		t.Errorf("healthy: %d %q", code, body)
	}
	err := errors.New("the database takes no writes: database is locked")
	fail.Store(&err)
	if code, body := get(t, srv.URL); code != 503 || body != err.Error()+"\n" {
		t.Errorf("unhealthy: %d %q", code, body)
	}
}

// Probes that come while a check runs join it rather than start their
// own: a burst of probes takes the database's write lock once. A probe
// after it has ended starts a new one.
func TestHealth_ProbesShareACheckUnderWay(t *testing.T) {
	var checks atomic.Int32
	release := make(chan struct{})
	h := NewHealth(func(context.Context) error {
		checks.Add(1)
		<-release
		return nil
	})
	first := h.start()
	for range 4 {
		if f := h.start(); f != first {
			t.Fatal("a probe during a check started another")
		}
	}
	close(release)
	<-first.done
	if n := checks.Load(); n != 1 || first.err != nil {
		t.Errorf("%d checks for a burst of probes, err %v; want 1, nil", n, first.err)
	}
	// The flight is cleared before done is closed.
	if f := h.start(); f == first {
		t.Error("a probe after the check ended got its old result")
	} else {
		<-f.done
	}
	if n := checks.Load(); n != 2 {
		t.Errorf("%d checks; want 2", n)
	}
}
