package loadgen

import (
	"strings"
	"testing"
	"time"
)

// RFC 6238's test vectors for HMAC-SHA1 (appendix B), cut to the 6 digits
// an authenticator app shows.
func TestTOTPCode_RFC6238Vectors(t *testing.T) {
	key := []byte("12345678901234567890")
	for _, c := range []struct {
		unix int64
		want string
	}{
		{59, "287082"}, {1111111109, "081804"}, {1111111111, "050471"},
		{1234567890, "005924"}, {2000000000, "279037"}, {20000000000, "353130"},
	} {
		if got := totpCode(key, time.Unix(c.unix, 0)); got != c.want {
			t.Errorf("T=%d: %s, want %s", c.unix, got, c.want)
		}
	}
}

func TestParseUsersTOTP(t *testing.T) {
	// The secret is the last column; the password keeps its spaces, and a
	// secret is read as authenticator apps read it.
	in := "# comment\nuid=a,dc=x\tpass word\tGEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\nb pw\tgezd gnbv gy3t qojq gezd gnbv gy3t qojq====\n"
	us, err := ParseUsersTOTP(strings.NewReader(in), "u.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 2 || us[0].Name != "uid=a,dc=x" || us[0].Password != "pass word" || us[0].TOTPKey != "12345678901234567890" ||
		us[1].Name != "b" || us[1].Password != "pw" || us[1].TOTPKey != "12345678901234567890" {
		t.Fatalf("%+v", us)
	}
	for in, want := range map[string]string{
		"uid=a,dc=x\tpw\n":                 "u.txt:1: no password: a line is the bind name, a tab (or spaces), then the password; the TOTP secret follows",
		"uid=a,dc=x\tpw\tnot-base32!\n":    "u.txt:1: the TOTP secret is not base32",
		"uid=a,dc=x pw\n":                  "u.txt:1: no TOTP secret",
		"uid=a,dc=x\tpw\tGEZDGNBV\n":       "u.txt:1: the TOTP secret is shorter than 80 bits",
		"uid=a,dc=x\t\tGEZDGNBVGY3TQOJQ\n": `u.txt:1: no password after "uid=a,dc=x"`,
	} {
		if _, err := ParseUsersTOTP(strings.NewReader(in), "u.txt"); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%q: %v, want %s", in, err, want)
		}
	}
}
