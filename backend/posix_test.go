package backend_test

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/wicketldap/wicket/backend"
)

// The POSIX attributes change one by one, "" removes one, NoPosix all;
// the account ends with posixAccount's three or with none, and anything
// refused changes nothing, the mail given with it included.
func TestUpdateProfile_PosixAttributes(t *testing.T) {
	f := newFixture(t, backend.Options{})
	ctx := context.Background()
	if _, err := f.svc.AddUser(ctx, "alice", "alice@example.org", password, ""); err != nil {
		t.Fatal(err)
	}
	s := func(v string) *string { return &v }
	full := &backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/bash"}
	steps := []struct {
		name string
		ch   backend.ProfileChange
		want *backend.Posix // after the step; errInput: refused
		bad  bool
	}{
		{"a uid number alone is refused", backend.ProfileChange{UIDNumber: s("10001")}, nil, true},
		{"the three and a shell", backend.ProfileChange{UIDNumber: s("10001"), GIDNumber: s("100"),
			HomeDirectory: s("/home/alice"), LoginShell: s("/bin/bash")}, full, false},
		{"another shell", backend.ProfileChange{LoginShell: s("/bin/zsh")},
			&backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice", LoginShell: "/bin/zsh"}, false},
		{"no shell", backend.ProfileChange{LoginShell: s("")},
			&backend.Posix{UIDNumber: 10001, GIDNumber: 100, HomeDirectory: "/home/alice"}, false},
		{"removing the home alone is refused", backend.ProfileChange{HomeDirectory: s("")}, nil, true},
		{"the largest id", backend.ProfileChange{UIDNumber: s("2147483647"), GIDNumber: s("0")},
			&backend.Posix{UIDNumber: 2147483647, GIDNumber: 0, HomeDirectory: "/home/alice"}, false},
		{"past it", backend.ProfileChange{UIDNumber: s("2147483648")}, nil, true},
		{"negative", backend.ProfileChange{GIDNumber: s("-1")}, nil, true},
		{"a sign", backend.ProfileChange{GIDNumber: s("+1")}, nil, true},
		{"not a number", backend.ProfileChange{UIDNumber: s("ten")}, nil, true},
		{"a relative home", backend.ProfileChange{HomeDirectory: s("home/alice")}, nil, true},
		{"a newline in the shell", backend.ProfileChange{LoginShell: s("/bin/sh\n")}, nil, true},
		{"a tab in the home", backend.ProfileChange{HomeDirectory: s("/home/\talice")}, nil, true},
		{"an accent", backend.ProfileChange{HomeDirectory: s("/home/alicé")}, nil, true},
		{"a mail with a bad shell: neither", backend.ProfileChange{Mail: s("new@example.org"), LoginShell: s("bash")}, nil, true},
		{"all removed", backend.ProfileChange{NoPosix: true}, nil, false},
		{"all removed, then set anew in one change", backend.ProfileChange{NoPosix: true, UIDNumber: s("7"), GIDNumber: s("8"),
			HomeDirectory: s("/srv/mail")}, &backend.Posix{UIDNumber: 7, GIDNumber: 8, HomeDirectory: "/srv/mail"}, false},
		{"emptied one by one", backend.ProfileChange{UIDNumber: s(""), GIDNumber: s(""), HomeDirectory: s("")}, nil, false},
	}
	var last *backend.Posix
	for _, st := range steps {
		err := f.svc.UpdateProfile(ctx, "alice", st.ch)
		if st.bad {
			if !errors.Is(err, backend.ErrInvalidInput) {
				t.Fatalf("%s: %v, want invalid input", st.name, err)
			}
		} else if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		} else {
			last = st.want
		}
		u, err := f.svc.User(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(u.Posix, last) || u.Mail != "alice@example.org" {
			t.Errorf("%s: POSIX %+v, mail %s; want %+v, alice@example.org", st.name, u.Posix, u.Mail, last)
		}
	}
	err := f.svc.UpdateProfile(ctx, "alice", backend.ProfileChange{UIDNumber: s("1")})
	if err == nil || !strings.Contains(err.Error(), "missing: gid number, home directory") {
		t.Errorf("the refusal says %v; want what is missing", err)
	}
	// Each change is recorded with what it set.
	var details []string
	for _, r := range listAudit(t, f.store, backend.AuditFilter{}) {
		if r.Action == backend.ActionUserProfile && r.Result == backend.ResultSuccess {
			details = append(details, r.Detail)
		}
	}
	if want := "uid_number=10001 gid_number=100 home_directory=/home/alice login_shell=/bin/bash"; !slices.Contains(details, want) {
		t.Errorf("profile records %q lack %q", details, want)
	}
}
