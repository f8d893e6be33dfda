package backend

import (
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"strings"
	"testing"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// cheapParams keeps the timing pad of verifyImported fast.
var cheapParams = Argon2Params{MemoryKiB: 1024, Time: 1, Threads: 1}

const importPassword = "correct horse battery"

// importSalt is the salt of the {SSHA}-family vectors below.
var importSalt = []byte{0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18}

// slappasswdForm builds what slappasswd -h {SSHA} and Dovecot's doveadm pw
// store: the scheme, then base64 of digest(password‖salt)‖salt.
func slappasswdForm(scheme string, newHash func() hash.Hash, password string, salt []byte) string {
	h := newHash()
	h.Write([]byte(password))
	h.Write(salt)
	return "{" + scheme + "}" + base64.StdEncoding.EncodeToString(append(h.Sum(nil), salt...))
}

// phcString formats an argon2 hash as libargon2 and the OpenLDAP argon2
// module encode it.
func phcString(variant string, m, t uint32, p uint8, salt, key []byte) string {
	return fmt.Sprintf("$%s$v=19$m=%d,t=%d,p=%d$%s$%s", variant, m, t, p,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// The hard-coded values were computed independently, with Python's hashlib
// and base64 for the {SHA} family and libxcrypt's crypt(3) for bcrypt.
func TestSHADigestSchemes_MatchIndependentVectors(t *testing.T) {
	for _, c := range []struct {
		scheme  string
		newHash func() hash.Hash
		salt    []byte
		want    string
	}{
		{"SSHA", sha1.New, importSalt, "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA=="},
		{"SSHA256", sha256.New, importSalt, "{SSHA256}MkaY3gqaX03icaD7mXM+0+53y+5wXODSdqQf5UnNW9ChssPU5fYHGA=="},
		{"SSHA512", sha512.New, importSalt, "{SSHA512}xHypeJnu1JSpk8CYZwUYdmWWCiVEwbPsReLXc3bx2w0gdOqjDlMpqJdYO4GWDYWa6VFRJuiPV7S9ayeQ7VPBv6Gyw9Tl9gcY"},
		{"SHA", sha1.New, nil, "{SHA}mN7MYuzjmaIu0w1JDvMzvn/ec4U="},
		{"SHA256", sha256.New, nil, "{SHA256}kCjqDRXeyqNbLaIcApCvOxpboKMKWRkG+JtQdOIJ6nI="},
		{"SHA512", sha512.New, nil, "{SHA512}zvYeTk7ae6ii/qoSBhf896UTrZIEQjsl4kO30/VW+ShT6VsVatr/3Zon0OUHNq1qa7zFDOipvTUWL315nomlIQ=="},
	} {
		if got := slappasswdForm(c.scheme, c.newHash, importPassword, c.salt); got != c.want {
			t.Errorf("%s: built %s, want %s", c.scheme, got, c.want)
		}
	}
}

func TestVerifyImported_KnownVectors(t *testing.T) {
	argonSalt := []byte("0123456789abcdef")
	idKey := argon2.IDKey([]byte(importPassword), argonSalt, 2, 4096, 1, 32)
	iKey := argon2.Key([]byte(importPassword), argonSalt, 3, 4096, 1, 32)
	bc, err := bcrypt.GenerateFromPassword([]byte(importPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}

	for _, c := range []struct {
		name, stored, password string
	}{
		{"SSHA", "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA==", importPassword},
		{"SSHA lower-case scheme", "{ssha}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA==", importPassword},
		{"SSHA without padding", "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA", importPassword},
		{"SSHA with a 4-byte salt", "{SSHA}69Kw8rtcD8oMlWa5Knhi3Bi16NEA/xCA", "secret"},
		{"SSHA256", "{SSHA256}MkaY3gqaX03icaD7mXM+0+53y+5wXODSdqQf5UnNW9ChssPU5fYHGA==", importPassword},
		{"SSHA512", "{SSHA512}xHypeJnu1JSpk8CYZwUYdmWWCiVEwbPsReLXc3bx2w0gdOqjDlMpqJdYO4GWDYWa6VFRJuiPV7S9ayeQ7VPBv6Gyw9Tl9gcY", importPassword},
		{"SHA", "{SHA}mN7MYuzjmaIu0w1JDvMzvn/ec4U=", importPassword},
		{"SHA of 'password' (htpasswd -s)", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "password"},
		{"SHA256", "{SHA256}kCjqDRXeyqNbLaIcApCvOxpboKMKWRkG+JtQdOIJ6nI=", importPassword},
		{"SHA512", "{SHA512}zvYeTk7ae6ii/qoSBhf896UTrZIEQjsl4kO30/VW+ShT6VsVatr/3Zon0OUHNq1qa7zFDOipvTUWL315nomlIQ==", importPassword},

		{"CRYPT $6$", "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1", "Hello world!"},
		{"CRYPT $6$ rounds", "{CRYPT}$6$rounds=10000$saltstringsaltst$OW1/O6BYHV6BcXZu8QVeXbDWra3Oeqh0sbHbbMCVNSnCM/UrjmM0Dp8vOuZeHBy/YTBmSK6H9qs/y3RnOaw5v.", "Hello world!"},
		{"CRYPT $5$", "{CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5", "Hello world!"},
		{"CRYPT $5$ rounds", "{crypt}$5$rounds=77777$short$JiO1O3ZpDAxGJeaDIuqCoEFysAe1mZNJRs3pw0KQRd/", "we have a short salt string but not a short password"},
		{"SHA512-CRYPT (Dovecot)", "{SHA512-CRYPT}$6$rounds=5000$toolongsaltstrin$lQ8jolhgVRVhY4b5pZKaysCLi0QBxGoNeKQzQ3glMhwllF7oGDZxUhx1yxdYcz/e1JSbq3y6JMxxl8audkUEm0", "This is just a test"},
		{"SHA256-CRYPT (Dovecot)", "{SHA256-CRYPT}$5$rounds=5000$toolongsaltstrin$Un/5jzAHMgOGZ5.mWJpuVolil07guHPvOW8mGRcvxa5", "This is just a test"},

		{"CRYPT $2a$ (OpenBSD vector)", "{CRYPT}$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW", "U*U"},
		{"CRYPT $2b$", "{CRYPT}$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS", importPassword},
		{"CRYPT $2y$", "{CRYPT}$2y$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS", importPassword},
		{"BLF-CRYPT $2y$ (Dovecot), UTF-8 password", "{BLF-CRYPT}$2y$05$XXXXXXXXXXXXXXXXXXXXXO1TzJjRwxYzOqz5G64rG5PMfnJinL5tq", "pässwörd €"},
		{"BCRYPT from x/crypto", "{BCRYPT}" + string(bc), importPassword},

		{"ARGON2 argon2id", "{ARGON2}" + phcString("argon2id", 4096, 2, 1, argonSalt, idKey), importPassword},
		{"ARGON2 argon2i", "{ARGON2}" + phcString("argon2i", 4096, 3, 1, argonSalt, iKey), importPassword},
		{"ARGON2ID (Dovecot)", "{ARGON2ID}" + phcString("argon2id", 4096, 2, 1, argonSalt, idKey), importPassword},
		{"ARGON2I (Dovecot)", "{argon2i}" + phcString("argon2i", 4096, 3, 1, argonSalt, iKey), importPassword},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := ValidatePasswordHash(c.stored); err != nil {
				t.Fatalf("ValidatePasswordHash: %v", err)
			}
			ok, stale := verifyPassword(c.stored, c.password, cheapParams)
			if !ok || !stale {
				t.Errorf("right password: ok=%v stale=%v, want true, true", ok, stale)
			}
			for _, wrong := range []string{"", c.password + "x", c.password[:len(c.password)-1], strings.ToUpper(c.password)} {
				if ok, _ := verifyPassword(c.stored, wrong, cheapParams); ok && wrong != c.password {
					t.Errorf("wrong password %q accepted", wrong)
				}
			}
		})
	}
}

// The example of the reference implementation's README: 64 MiB per
// derivation, so checked apart from the table.
func TestVerifyImported_Argon2ReferenceVector(t *testing.T) {
	if testing.Short() {
		t.Skip("64 MiB argon2i derivations")
	}
	const stored = "{ARGON2}$argon2i$v=19$m=65536,t=2,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG"
	if ok, stale := verifyPassword(stored, "password", cheapParams); !ok || !stale {
		t.Errorf("right password: ok=%v stale=%v", ok, stale)
	}
	if ok, _ := verifyPassword(stored, "Password", cheapParams); ok {
		t.Error("wrong password accepted")
	}
}

func TestValidatePasswordHash_Refuses(t *testing.T) {
	salt := []byte("0123456789abcdef")
	key := make([]byte, 32)
	for _, c := range []struct{ name, stored string }{
		{"empty", ""},
		{"plain text", "secret"},
		{"bare crypt string", "$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"unknown scheme", "{MD5}X03MO1qnZdYdgyfeuILPmQ=="},
		{"cleartext scheme", "{CLEARTEXT}secret"},
		{"unclosed scheme", "{SSHA"},
		{"empty scheme", "{}abc"},
		{"SSHA without salt", "{SSHA}mN7MYuzjmaIu0w1JDvMzvn/ec4U="},
		{"SSHA not base64", "{SSHA}not*base64!"},
		{"SSHA with an absurd salt", slappasswdForm("SSHA", sha1.New, "x", make([]byte, 65))},
		{"SHA of the wrong length", "{SHA}kCjqDRXeyqNbLaIcApCvOxpboKMKWRkG+JtQdOIJ6nI="},
		{"SHA256 with a salt", "{SHA256}MkaY3gqaX03icaD7mXM+0+53y+5wXODSdqQf5UnNW9ChssPU5fYHGA=="},
		{"CRYPT DES", "{CRYPT}abJnggxhB/yWI"},
		{"CRYPT MD5", "{CRYPT}$1$saltsalt$qjXMvbEw8oaL.CzflDugX/"},
		{"CRYPT yescrypt", "{CRYPT}$y$j9T$F5Jx5fExrKuJdljLEk3P0/$n0Bs8M8Zzu2hz6R4Kl1w0RkjUl3Xoz6LxgY4rJH0nSD"},
		{"SHA-crypt, hash too short", "{CRYPT}$6$saltstring$svn8UoSVapNtMuq1"},
		{"SHA-crypt, no hash", "{CRYPT}$6$saltstring"},
		{"SHA-crypt, bad character", "{CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc*"},
		{"SHA-crypt, salt too long", "{CRYPT}$5$saltstringsaltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"SHA-crypt, rounds not a number", "{CRYPT}$5$rounds=1e4$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"SHA-crypt, rounds below the minimum", "{CRYPT}$5$rounds=10$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC"},
		{"SHA-crypt, rounds over the limit", "{CRYPT}$6$rounds=1000001$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"SHA-crypt, rounds at the spec's maximum", "{CRYPT}$6$rounds=999999999$salt$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"SHA512-CRYPT holding a $5$", "{SHA512-CRYPT}$5$saltstring$5B8vYYiY.CVt1RlTTf8KbXBH3hsxY/GNooZaBBGWEc5"},
		{"bcrypt cost over the limit", "{BCRYPT}$2b$16$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"},
		{"bcrypt cost 31", "{CRYPT}$2y$31$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"},
		{"bcrypt cost below the minimum", "{CRYPT}$2y$03$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"},
		{"bcrypt $2x$", "{CRYPT}$2x$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS"},
		{"bcrypt truncated", "{BCRYPT}$2y$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoO"},
		{"bcrypt bad character", "{BCRYPT}$2y$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoO="},
		{"BLF-CRYPT holding a $6$", "{BLF-CRYPT}$6$saltstring$svn8UoSVapNtMuq1ukKS4tPQd8iKwSMHWjl/O817G3uBnIFNjnQJuesI68u4OTLiBFdcbYEdFCoEOfaS35inz1"},
		{"argon2 memory over 4 GiB", "{ARGON2}" + phcString("argon2id", 4<<20+1, 1, 1, salt, key)},
		{"argon2 time over the limit", "{ARGON2}" + phcString("argon2id", 4096, 65, 1, salt, key)},
		{"argon2 no threads", "{ARGON2}" + phcString("argon2id", 4096, 1, 0, salt, key)},
		{"argon2 256 threads", "{ARGON2}$argon2id$v=19$m=4096,t=1,p=256$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"argon2 version 16", "{ARGON2}$argon2i$v=16$m=4096,t=3,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"argon2 without version", "{ARGON2}$argon2i$m=4096,t=3,p=1$MDEyMzQ1Njc4OWFiY2RlZg$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"},
		{"argon2d", "{ARGON2}" + phcString("argon2d", 4096, 1, 1, salt, key)},
		{"argon2 short salt", "{ARGON2}" + phcString("argon2id", 4096, 1, 1, salt[:4], key)},
		{"ARGON2ID holding argon2i", "{ARGON2ID}" + phcString("argon2i", 4096, 1, 1, salt, key)},
		{"ARGON2 without a PHC string", "{ARGON2}c2FsdA"},
		{"native argon2id below the configured floor", phcString("argon2id", 512, 1, 1, salt, key)},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := ValidatePasswordHash(c.stored)
			if err == nil {
				t.Fatal("accepted")
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error %v does not wrap ErrInvalidInput", err)
			}
			// A refused hash never verifies, and costs no more than the pad.
			if ok, _ := verifyPassword(c.stored, importPassword, cheapParams); ok {
				t.Error("verified")
			}
		})
	}
}

// Every prefix and a few corruptions of every accepted form must fail
// cleanly: no panic, and no match but the one that merely drops padding.
func TestVerifyImported_MangledHashes(t *testing.T) {
	sources := []string{
		"{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA==",
		"{SHA512}zvYeTk7ae6ii/qoSBhf896UTrZIEQjsl4kO30/VW+ShT6VsVatr/3Zon0OUHNq1qa7zFDOipvTUWL315nomlIQ==",
		"{CRYPT}$5$rounds=1000$roundstoolow$yfvwcWrQ8l/K0DAWyuPMDNHpIVlTQebY9l/gL972bIC",
		"{CRYPT}$2b$04$abcdefghijklmnopqrstuuqREtd3VJD2QVZbuFskFSLk6eRIrQoOS",
		"{ARGON2}" + phcString("argon2id", 1024, 1, 1, []byte("0123456789abcdef"),
			argon2.IDKey([]byte(importPassword), []byte("0123456789abcdef"), 1, 1024, 1, 32)),
	}
	passwords := map[string]string{sources[2]: "the minimum number is still observed"}
	for _, src := range sources {
		pw, ok := passwords[src]
		if !ok {
			pw = importPassword
		}
		// Without verifyImported's timing pad, which would only slow this down.
		verify := func(s string) bool {
			h, err := parseImported(s)
			return err == nil && h.verify([]byte(pw))
		}
		if !verify(src) {
			t.Fatalf("%s does not verify unmangled", src)
		}
		var mangled []string
		for i := range len(src) {
			mangled = append(mangled, src[:i], src[:i]+"#"+src[i+1:], src[:i]+"$"+src[i:])
		}
		for _, m := range mangled {
			if verify(m) && m != strings.TrimRight(src, "=") {
				t.Errorf("mangled %q verifies", m)
			}
			_ = ValidatePasswordHash(m)
		}
	}
}

func TestVerifyPassword_NativeHashIsStaleOnlyWithOtherParameters(t *testing.T) {
	h, err := HashPassword(importPassword, cheapParams)
	if err != nil {
		t.Fatal(err)
	}
	if ok, stale := verifyPassword(h, importPassword, cheapParams); !ok || stale {
		t.Errorf("native hash, same parameters: ok=%v stale=%v", ok, stale)
	}
	if ok, stale := verifyPassword(h, importPassword, DefaultArgon2Params); !ok || !stale {
		t.Errorf("native hash, other parameters: ok=%v stale=%v", ok, stale)
	}
	// The same hash imported under {ARGON2} is rewritten in wicket's own form.
	if ok, stale := verifyPassword("{ARGON2}"+h, importPassword, cheapParams); !ok || !stale {
		t.Errorf("{ARGON2} hash: ok=%v stale=%v", ok, stale)
	}
	if err := ValidatePasswordHash(h); err != nil {
		t.Errorf("native hash refused: %v", err)
	}
}
