package backend

import (
	"regexp"
	"strings"
	"testing"
)

func TestGenerateAppPassword_SixteenLowercaseLettersShownInFours(t *testing.T) {
	shown := regexp.MustCompile(`^[a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}$`)
	seen := map[string]bool{}
	var counts [26]int
	const n = 2000
	for i := 0; i < n; i++ {
		p := GenerateAppPassword()
		if len(p) != AppPasswordLetters || strings.Trim(p, "abcdefghijklmnopqrstuvwxyz") != "" {
			t.Fatalf("generated %q", p)
		}
		if f := FormatAppPassword(p); !shown.MatchString(f) {
			t.Fatalf("shown as %q", f)
		}
		if seen[p] {
			t.Fatalf("duplicate %q", p)
		}
		seen[p] = true
		for _, c := range p {
			counts[c-'a']++
		}
	}
	// 32000 letters: each expected ~1231; a biased generator (modulo bias
	// or a missing letter) falls far outside this band.
	for i, c := range counts {
		if c < 1000 || c > 1470 {
			t.Errorf("letter %c drawn %d times of %d", 'a'+i, c, n*AppPasswordLetters)
		}
	}
}

func TestNormalizeAppPassword(t *testing.T) {
	cases := []struct {
		in, want string
		ok       bool
	}{
		{"abcd-efgh-ijkl-mnop", "abcdefghijklmnop", true},
		{"abcdefghijklmnop", "abcdefghijklmnop", true},
		{"ABCD-EFGH-ijkl-MnOp", "abcdefghijklmnop", true},
		{"abcd efgh ijkl mnop", "", false},
		{"abcd-efgh-ijkl-mno", "", false},
		{"abcdefghijklmno1", "", false},
		{"abcd--efgh-ijklmnop", "", false},
		{"abcde-fgh-ijkl-mnop", "", false},
		{"", "", false},
		{"password123456", "", false},
	}
	for _, c := range cases {
		got, ok := NormalizeAppPassword(c.in)
		if got != c.want || ok != c.ok {
			t.Errorf("NormalizeAppPassword(%q) = %q, %v; want %q, %v", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSplitPasswordCode(t *testing.T) {
	cases := []struct {
		in, pw, code string
		ok           bool
	}{
		{"secret123456", "secret", "123456", true},
		{"pass word 000001", "pass word ", "000001", true},
		{"123456", "", "", false},
		{"secret12345a", "", "", false},
		{"se", "", "", false},
	}
	for _, c := range cases {
		pw, code, ok := splitPasswordCode(c.in)
		if pw != c.pw || code != c.code || ok != c.ok {
			t.Errorf("splitPasswordCode(%q) = %q, %q, %v", c.in, pw, code, ok)
		}
	}
}

func TestHashPassword_PHCRoundTrip(t *testing.T) {
	p := Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}
	h, err := HashPassword("hunter2hunter2", p)
	if err != nil {
		t.Fatal(err)
	}
	if ok, stale := verifyPassword(h, "hunter2hunter2", p); !ok || stale {
		t.Fatalf("verify = %v, stale %v", ok, stale)
	}
	if ok, _ := verifyPassword(h, "hunter3hunter3", p); ok {
		t.Fatal("a wrong password verified")
	}
	if _, stale := verifyPassword(h, "hunter2hunter2", Argon2Params{MemoryKiB: 2048, Time: 1, Threads: 1}); !stale {
		t.Fatal("a hash with other parameters is not reported stale")
	}
	for _, bad := range []string{"", "$argon2id$v=19$m=99999999,t=1,p=1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "$argon2i$v=19$m=1024,t=1,p=1$x$y"} {
		if ok, _ := verifyPassword(bad, "x", p); ok {
			t.Errorf("malformed hash %q verified", bad)
		}
	}
}
