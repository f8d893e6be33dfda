package config

import (
	"strings"
	"testing"
)

func TestHTTP_OffByDefault(t *testing.T) {
	if got := Default().HTTP; got != (HTTP{}) {
		t.Errorf("default [http] = %+v; want no listener", got)
	}
}

// Loopback is accepted as it is; any other address only with
// allow_remote, and the refusal says why and what to set.
func TestHTTP_ListenIsLoopbackUnlessAllowed(t *testing.T) {
	for _, addr := range []string{"127.0.0.1:9389", "127.0.0.2:9389", "[::1]:9389", "localhost:9389", "127.0.0.1:0"} {
		c, err := Load(write(t, "[http]\nlisten = \""+addr+"\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", addr, err)
		}
	}
	for _, addr := range []string{"0.0.0.0:9389", ":9389", "[::]:9389", "192.0.2.10:9389", "metrics.example.org:9389"} {
		c, err := Load(write(t, "[http]\nlisten = \""+addr+"\"\n"))
		if err != nil {
			t.Fatal(err)
		}
		err = c.Validate()
		if err == nil || !strings.Contains(err.Error(), "http.listen") || !strings.Contains(err.Error(), "not a loopback address") ||
			!strings.Contains(err.Error(), "http.allow_remote = true") {
			t.Errorf("%s: got %v; want a refusal naming http.listen and http.allow_remote", addr, err)
		}
		c.HTTP.AllowRemote = true
		if err := c.Validate(); err != nil {
			t.Errorf("%s with allow_remote: %v", addr, err)
		}
	}
}

func TestHTTP_ListenMustBeHostPort(t *testing.T) {
	for _, addr := range []string{"127.0.0.1", "127.0.0.1:", "127.0.0.1:70000", "http://127.0.0.1:9389"} {
		c := Default()
		c.HTTP = HTTP{Listen: addr, AllowRemote: true}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "http.listen") {
			t.Errorf("%q: got %v; want an error naming http.listen", addr, err)
		}
	}
}
