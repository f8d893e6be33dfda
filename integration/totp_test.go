package integration

import (
	"strings"
	"testing"
	"time"
)

// Seeds of 80 bits (16 base32 characters), as many systems issue them, move
// over with a warning, and oathtool's codes from them sign in; shorter ones
// are refused with what is missing, and change nothing.
func TestTOTP_EightyBitSecretsFromOtherSystemsAreTaken(t *testing.T) {
	w := startWicket(t, "")
	u := w.newUser("ada", false)
	const secret = "JBSWY3DPEHPK3PXP" // 80 bits

	out, errOut, err := w.run(secret+"\n", "totp", "enroll", "ada", "--secret-file", "-")
	if err != nil {
		t.Fatalf("totp enroll with an 80-bit secret: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(errOut, "warning: this TOTP secret has 80 bits, fewer than the 128 RFC 4226 asks for") {
		t.Errorf("no warning about the short seed on stderr: %q", errOut)
	}
	if !strings.Contains(out, "secret="+secret) {
		t.Errorf("the URI does not carry the seed given:\n%s", out)
	}
	whoamiWants(t, w, "ada, password and oathtool's code", u, u.password+totpCode(t, secret, time.Now()), 0)

	bob := w.newUser("bob", false)
	_, errOut, err = w.run("JBSWY3DPEHPK3PX\n", "totp", "enroll", "bob", "--secret-file", "-")
	if err == nil || !strings.Contains(errOut, "15 base32 characters (75 bits); it must have at least 16 (80 bits)") {
		t.Errorf("a 75-bit secret: %v, stderr %q; want a refusal naming the lengths", err, errOut)
	}
	var shown struct {
		TOTPEnrolled bool `json:"totp_enrolled"`
	}
	w.adminJSON(&shown, "", "user", "show", bob.name)
	if shown.TOTPEnrolled {
		t.Error("a refused secret enrolled bob")
	}
}
