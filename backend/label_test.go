package backend_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// A label is read back by people in lists, audit records and logs: it may
// not hide or reorder text, be blank, or carry spaces at its ends (refused,
// not trimmed, so what is stored is what was sent).
func TestCreateAppPassword_LabelRules(t *testing.T) {
	const (
		invisible = "the label must not contain control, format or bidirectional characters"
		blank     = "the label must not be blank"
		ends      = "the label must not begin or end with a space"
		length    = "the label must be 1-100 characters of UTF-8"
	)
	cases := []struct {
		name  string
		label string
		want  string // a part of the error; "" when accepted
	}{
		{"plain text", "Thunderbird on laptop", ""},
		{"accents", "Téléphone de Zoë", ""},
		{"an emoji", "📱 phone", ""},
		{"an emoji with a variation selector", "❤️ tablet", ""},
		{"other scripts", "iPhone 山田 — Москва", ""},
		{"a right-to-left script", "هاتف", ""},
		{"a space inside", "work  laptop", ""},
		{"a no-break space inside", "work\u00a0laptop", ""},
		{"one character", "x", ""},
		{"100 characters", strings.Repeat("é", 100), ""},

		{"empty", "", blank},
		{"one space", " ", blank},
		{"spaces only", "     ", blank},
		{"no-break and ideographic spaces only", "\u00a0\u3000", blank},
		{"a Hangul filler only", "\u3164", blank},
		{"a leading space", " phone", ends},
		{"a trailing space", "phone ", ends},
		{"a trailing no-break space", "phone\u00a0", ends},

		{"a tab", "phone\tlaptop", invisible},
		{"a newline", "phone\nlaptop", invisible},
		{"a trailing newline", "phone\n", invisible},
		{"a carriage return", "phone\rlaptop", invisible},
		{"NUL", "phone\x00", invisible},
		{"DEL", "phone\x7f", invisible},
		{"a C1 control", "phone\u0085", invisible},
		{"right-to-left override U+202E", "phone\u202egnp.exe", invisible},
		{"left-to-right embedding U+202A", "\u202aphone", invisible},
		{"pop directional formatting U+202C", "phone\u202c", invisible},
		{"right-to-left isolate U+2067", "\u2067phone\u2069", invisible},
		{"first strong isolate U+2068", "\u2068phone", invisible},
		{"left-to-right mark U+200E", "phone\u200e", invisible},
		{"right-to-left mark U+200F", "phone\u200f", invisible},
		{"Arabic letter mark U+061C", "phone\u061c", invisible},
		{"zero-width space U+200B", "pho\u200bne", invisible},
		{"zero-width space alone", "\u200b", invisible},
		{"zero-width joiner U+200D", "pho\u200dne", invisible},
		{"zero-width non-joiner U+200C", "pho\u200cne", invisible},
		{"byte order mark U+FEFF", "\ufeffphone", invisible},
		{"soft hyphen U+00AD", "pho\u00adne", invisible},
		{"line separator U+2028", "phone\u2028laptop", invisible},
		{"paragraph separator U+2029", "phone\u2029laptop", invisible},
		{"a tag character", "phone\U000e0041", invisible},

		{"101 characters", strings.Repeat("x", 101), length},
		{"invalid UTF-8", "caf\xe9", length},
	}
	f := newFixture(t, backend.Options{MaxAppPasswords: 100})
	f.user(t, "alice")
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ap, err := f.svc.CreateAppPassword(ctx, "alice", tc.label)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("label %q refused: %v", tc.label, err)
				}
				if ap.Label != tc.label {
					t.Errorf("label %q stored as %q", tc.label, ap.Label)
				}
				return
			}
			if !errors.Is(err, backend.ErrInvalidInput) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("label %q: got %v, want ErrInvalidInput saying %q", tc.label, err, tc.want)
			}
		})
	}
}
