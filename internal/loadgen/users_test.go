package loadgen

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseUsers_TabsSpacesCommentsBlankLines(t *testing.T) {
	t.Parallel()
	file := "# bind name <TAB> password\n" +
		"uid=alice,ou=people,dc=example,dc=org\tabcd-efgh-ijkl-mnop\n" +
		"\n" +
		"   \n" +
		"  # an indented comment\n" +
		"uid=bob, ou=people, dc=example, dc=org\tCorrect Horse\tBattery \n" +
		"carol   two  spaces inside \r\n" +
		"dave@example.org\t#not-a-comment\n" +
		"uid=eve,ou=people,dc=example,dc=org \t pw"
	got, err := ParseUsers(strings.NewReader(file), "users.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{Name: "uid=alice,ou=people,dc=example,dc=org", Password: "abcd-efgh-ijkl-mnop"},
		// With a tab, spaces belong to the name and the password.
		{Name: "uid=bob, ou=people, dc=example, dc=org", Password: "Correct Horse\tBattery "},
		// Without one, the first run of spaces separates them.
		{Name: "carol", Password: "two  spaces inside "},
		{Name: "dave@example.org", Password: "#not-a-comment"},
		{Name: "uid=eve,ou=people,dc=example,dc=org", Password: " pw"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
}

func TestParseUsers_BadLineNamedByNumber(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, file, want string
	}{
		{"no password", "# users\nalice\tpw\n\nbob\n", "users.txt:4: no password"},
		{"empty password after a tab", "alice\tpw\nbob\t\n", `users.txt:2: no password after "bob"`},
		{"no name", "alice\tpw\n\tpw\n", "users.txt:2: no bind name"},
		{"only a name and spaces", "alice   \n", `users.txt:1: no password after "alice"`},
		{"no users", "# nobody\n\n", "users.txt: no users"},
		{"a line too long", "alice\tpw\n#\nbob\t" + strings.Repeat("x", maxUserLine) + "\n", "users.txt:3: a line over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseUsers(strings.NewReader(tc.file), "users.txt")
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("error %v, want one starting %q", err, tc.want)
			}
		})
	}
}

func TestReadUsers_NamesTheFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte("alice\tpw\nbob\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadUsers(p); err == nil || !strings.HasPrefix(err.Error(), p+":2: ") {
		t.Errorf("error %v, want it to start with %s:2:", err, p)
	}
	if _, err := ReadUsers(p + ".missing"); err == nil || !strings.Contains(err.Error(), "no such file") {
		t.Errorf("a missing file: %v", err)
	}
}

// Lookup's names are the first column of a users file or a list of names
// or DNs; passwords, if any, are left out.
func TestParseNames_FirstColumnOfAnyList(t *testing.T) {
	t.Parallel()
	file := "# names\n" +
		"uid=alice,ou=people,dc=example,dc=org\tabcd-efgh-ijkl-mnop\n" +
		"\n" +
		"uid=bob, ou=people, dc=example, dc=org\tpw\n" +
		"  carol\r\n" +
		"dave   some words\n" +
		"erin@example.org\n"
	got, err := ParseNames(strings.NewReader(file), "names.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []User{
		{Name: "uid=alice,ou=people,dc=example,dc=org"},
		{Name: "uid=bob, ou=people, dc=example, dc=org"},
		{Name: "carol"},
		{Name: "dave"},
		{Name: "erin@example.org"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	for _, tc := range []struct{ file, want string }{
		{"alice\n\tpw\n", "names.txt:2: no name"},
		{"# nobody\n", "names.txt: no names"},
	} {
		if _, err := ParseNames(strings.NewReader(tc.file), "names.txt"); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("%q: %v, want %q", tc.file, err, tc.want)
		}
	}
	p := filepath.Join(t.TempDir(), "names.txt")
	if err := os.WriteFile(p, []byte("alice\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if us, err := ReadNames(p); err != nil || len(us) != 1 {
		t.Errorf("ReadNames: %v, %v", us, err)
	}
}
