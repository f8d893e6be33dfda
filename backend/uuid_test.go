package backend_test

import (
	"encoding/json"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

func TestNewUUID_IsRandomVersion4(t *testing.T) {
	seen := map[backend.UUID]bool{}
	for range 1000 {
		u := backend.NewUUID()
		if v := u[6] >> 4; v != 4 {
			t.Fatalf("%s: version %d, want 4", u, v)
		}
		if u[8]&0xc0 != 0x80 {
			t.Fatalf("%s: variant bits %02x, want RFC 9562's 10", u, u[8]>>6)
		}
		if seen[u] {
			t.Fatalf("%s drawn twice", u)
		}
		seen[u] = true
	}
}

// RFC 9562 appendix A.4: the name-based UUID of www.example.com in the DNS
// namespace.
func TestNameUUID_MatchesRFC9562(t *testing.T) {
	dns, err := backend.ParseUUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	if err != nil {
		t.Fatal(err)
	}
	if got := backend.NameUUID(dns, "www.example.com").String(); got != "2ed6657d-e927-568b-95e1-2665a8aea6a2" {
		t.Errorf("NameUUID = %s, want 2ed6657d-e927-568b-95e1-2665a8aea6a2", got)
	}
}

func TestParseUUID_EitherCaseOnlyTheTextForm(t *testing.T) {
	u := backend.NewUUID()
	for _, s := range []string{u.String(), upper(u.String())} {
		got, err := backend.ParseUUID(s)
		if err != nil || got != u {
			t.Errorf("ParseUUID(%q) = %s, %v; want %s", s, got, err, u)
		}
	}
	for _, bad := range []string{"", "not a uuid", u.String()[1:], u.String() + "0",
		"6ba7b8109dad11d180b400c04fd430c8", "6ba7b810-9dad-11d1-80b4-00c04fd430cg", "6ba7b810-9dad-11d1-80b400c04fd430c8-"} {
		if _, err := backend.ParseUUID(bad); err == nil {
			t.Errorf("ParseUUID(%q) accepted", bad)
		}
	}
	b, err := json.Marshal(struct{ U backend.UUID }{u})
	if err != nil || string(b) != `{"U":"`+u.String()+`"}` {
		t.Errorf("JSON %s, %v", b, err)
	}
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'f' {
			b[i] = c - 'a' + 'A'
		}
	}
	return string(b)
}
