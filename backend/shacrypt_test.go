package backend

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// shaCrypt returns the full crypt(3) string for a setting such as
// "$6$rounds=5000$salt", clamping rounds and salt as the spec does, so that
// the spec's test vectors, out-of-range settings included, run as written.
func shaCrypt(setting string, password []byte) (string, error) {
	var v *shaCryptVariant
	switch {
	case strings.HasPrefix(setting, sha256Crypt.magic):
		v = sha256Crypt
	case strings.HasPrefix(setting, sha512Crypt.magic):
		v = sha512Crypt
	default:
		return "", fmt.Errorf("not a SHA-crypt setting")
	}
	rest := setting[len(v.magic):]
	rounds, custom := shaCryptRoundsDefault, false
	if r, ok := strings.CutPrefix(rest, "rounds="); ok {
		n, after, _ := strings.Cut(r, "$")
		var err error
		if rounds, err = strconv.Atoi(n); err != nil || rounds < 0 {
			return "", fmt.Errorf("bad rounds")
		}
		rounds = max(shaCryptRoundsMin, min(rounds, 999_999_999))
		rest, custom = after, true
	}
	salt, _, _ := strings.Cut(rest, "$")
	salt = salt[:min(len(salt), shaCryptSaltMax)]
	var b strings.Builder
	b.WriteString(v.magic)
	if custom {
		fmt.Fprintf(&b, "rounds=%d$", rounds)
	}
	b.WriteString(salt)
	b.WriteByte('$')
	b.Write(shaCryptSum(v, password, []byte(salt), rounds))
	return b.String(), nil
}

// The vectors of the spec, "Unix crypt using SHA-256 and SHA-512", checked
// against the full crypt(3) string, followed by a few from libxcrypt.
func TestSHACrypt_SpecVectors(t *testing.T) {
	const long = "a very much longer text to encrypt.  This one even stretches over morethan one line."
	for _, v := range []struct{ setting, password, want string }{
		{"$5$saltstring", "Hello world!", "$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"$5$rounds=10000$saltstringsaltstring", "Hello world!", "$5$rounds=10000$saltstringsaltst$3xv.VbSHBb41AL9AvLeujZkZRBAwqFMz2.opqey6IcA"},
		{"$5$rounds=5000$toolongsaltstring", "This is just a test", "$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5"},
		{"$5$rounds=1400$anotherlongsaltstring", long, "$5$rounds=1400$anotherlongsalts$Rx.j8H.h8HjEDGomFU8bDkXm3XIUnzyxf12oP84Bnq1"},
		{"$5$rounds=77777$short", "we have a short salt string but not a short password", "$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/"},
		{"$5$rounds=123456$asaltof16chars..", "a short string", "$5$rounds=123456$asaltof16chars..$gP3VQ/6X7UUEW3HkBn2w1/Ptq2jxPyzV/cZKmF/wJvD"},
		{"$5$rounds=10$roundstoolow", "the minimum number is still observed", "$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},
		{"$6$saltstring", "Hello world!", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"$6$rounds=10000$saltstringsaltstring", "Hello world!", "$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v."},
		{"$6$rounds=5000$toolongsaltstring", "This is just a test", "$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0"},
		{"$6$rounds=1400$anotherlongsaltstring", long, "$6$rounds=1400$anotherlongsalts$POfYwTEok97VWcjxIiSOjiykti.o/pQs.wPvMxQ6Fm7I6IoYN3CmLs66x9t0oSwbtEW7o7UmJEiDwGqd8p4ur1"},
		{"$6$rounds=77777$short", "we have a short salt string but not a short password", "$6$rounds=77777$short$WuQyW2YR.hBNpjjRhpYD/ifIw05xdfeEyQoMxIXbkvr0gge1a1x3yRULJ5CCaUeOxFmtlcGZelFl5CxtgfiAc0"},
		{"$6$rounds=123456$asaltof16chars..", "a short string", "$6$rounds=123456$asaltof16chars..$BtCwjqMJGx5hrJhZywWvt0RLE8uZ4oPwcelCjmw2kSYu.Ec6ycULevoBK25fs2xXgMNrCzIMVcgEJAstJeonj1"},
		{"$6$rounds=10$roundstoolow", "the minimum number is still observed", "$6$rounds=1000$roundstoolow$kUMsbe306n21p9R.FRkW3IGn.S9NPN0x50YhH1xhLsPuWGsUSklZt58jaTfF4ZEQpyUNGc0dqbpBYYBaHHrsX."},

		{"$6$rounds=1000$emptypw", "", "$6$rounds=1000$emptypw$HlIvXUyYuit0YXo7TQsvDbSukfTPXqMfer3T883.YtTaRpAHhGsXXvUpZxRWVIR6LzICKFT6VsLlh3xHWI3zr0"},
		{"$5$$", "pässwörd", "$5$$mKQo8jxnSGdiQXLLbG6q6DWxJBvvxqZ7fk8JqDxTCx5"},
		{"$6$abcdefgh", strings.Repeat("x", 100), "$6$abcdefgh$TtI8Nf3XUr2hnuBuhqT5oHncObLx.L79LpqMrqeqTFOCP6JmkErg7tHQlmKe6Gt18.7w11o0VZEekyNxE9KjC1"},
	} {
		got, err := shaCrypt(v.setting, []byte(v.password))
		if err != nil || got != v.want {
			t.Errorf("crypt(%q, %q)\n got %s, %v\nwant %s", v.password, v.setting, got, err, v.want)
		}
	}
}

// A password long enough to make SHA-crypt's quadratic step expensive fails
// at once instead of occupying a hashing slot.
func TestSHACrypt_LongPasswordRefused(t *testing.T) {
	pw := strings.Repeat("a", shaCryptMaxPassword+1)
	stored, err := shaCrypt("$6$rounds=1000$salt", []byte(pw))
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := verifyPassword("{CRYPT}"+stored, pw, cheapParams); ok {
		t.Error("a password over the length bound verified")
	}
}
