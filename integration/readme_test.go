package integration

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// readmeCommands returns the commands of the README's code block that
// follows the paragraph starting with after, keyed by the comment above
// each, as a shell would read them (continuation lines included).
func readmeCommands(t *testing.T, after string) map[string]string {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	i := strings.Index(text, after)
	if i < 0 {
		t.Fatalf("README.md has no paragraph starting %q", after)
	}
	cmds := map[string]string{}
	comment, inBlock := "", false
	for _, line := range strings.Split(text[i:], "\n") {
		switch {
		case strings.HasPrefix(line, "    # "):
			inBlock, comment = true, strings.TrimPrefix(line, "    # ")
		case strings.HasPrefix(line, "    "):
			inBlock = true
			cmds[comment] += strings.TrimPrefix(line, "    ") + "\n"
		case inBlock && strings.TrimSpace(line) != "":
			return cmds
		}
	}
	return cmds
}

// shellRun runs a command line as a shell would, without the user's
// ldaprc, and returns what it printed and whether it succeeded.
func shellRun(t *testing.T, line string) (string, bool) {
	t.Helper()
	sh := exec.Command("sh", "-c", line)
	sh.Env = append(os.Environ(), "LDAPRC=/dev/null", "HOME="+t.TempDir())
	out, err := sh.CombinedOutput()
	return string(out), err == nil
}

// The app-password commands the README gives for OpenLDAP's tools work as
// written, against the real server: only the server's address, the
// passwords -W/-A/-S would ask for and the example id are filled in
// (and the password is changed for bob, whose codes are not used up).
func TestReadme_StockToolCommandsWork(t *testing.T) {
	for _, tool := range []string{"ldapexop", "ldapsearch", "ldapdelete", "ldapmodify", "ldappasswd"} {
		requireTool(t, tool)
	}
	cmds := readmeCommands(t, "With OpenLDAP's tools, as alice")
	find := func(prefix string) string {
		t.Helper()
		for c, line := range cmds {
			if strings.HasPrefix(c, prefix) {
				if !strings.Contains(line, " -x -H ldap://127.0.0.1:1389 ") {
					t.Errorf("%s: not a complete command (-x -H ldap://127.0.0.1:1389):\n%s", prefix, line)
				}
				return line
			}
		}
		t.Fatalf("no command %q in the README's block: %q", prefix, cmds)
		return ""
	}
	w := startWicket(t, "")
	alice, bob := w.newUser("alice", true), w.newUser("bob", true)
	codes := newStepCodes(t, alice)
	fill := func(line, secret string) string {
		line = strings.ReplaceAll(line, "ldap://127.0.0.1:1389", w.url())
		return strings.ReplaceAll(line, " -W", " -w "+shellQuote(secret))
	}

	out, ok := shellRun(t, fill(find("create"), alice.password+codes.next()))
	m := regexp.MustCompile(`Additional info: .*?([a-z]{4}-[a-z]{4}-[a-z]{4}-[a-z]{4}).*?\b([0-9a-f]{10})\b`).FindStringSubmatch(out)
	if !ok || m == nil {
		t.Fatalf("create: %v\n%s", ok, out)
	}
	appPW, id := m[1], m[2]
	if _, rc := goLDAPBind(t, w.url(), alice.dn, appPW); rc != 0 {
		t.Errorf("the created app password: bind result %d", rc)
	}

	out, ok = shellRun(t, fill(find("list"), appPW))
	if !ok || !strings.Contains(out, "appPasswordId="+id+","+alice.dn) || !strings.Contains(out, "label: Thunderbird") {
		t.Errorf("list with the app password: %v\n%s", ok, out)
	}

	out, ok = shellRun(t, strings.ReplaceAll(fill(find("revoke one"), alice.password+codes.next()), "2a6a31e8c5", id))
	if _, rc := goLDAPBind(t, w.url(), alice.dn, appPW); !ok || rc != 49 {
		t.Errorf("revoke one: %v, then a bind with it: %d, want 49\n%s", ok, rc, out)
	}

	_, one := w.appPassword("alice", "one")
	_, two := w.appPassword("alice", "two")
	out, ok = shellRun(t, fill(find("revoke all"), alice.password+codes.next()))
	for _, pw := range []string{one, two} {
		if _, rc := goLDAPBind(t, w.url(), alice.dn, pw); !ok || rc != 49 {
			t.Errorf("revoke all: %v, then a bind with one: %d, want 49\n%s", ok, rc, out)
		}
	}

	const newPassword = "A-New-Password-For-Bob"
	line := strings.ReplaceAll(find("change the password"), "uid=alice", "uid=bob")
	if !strings.Contains(line, " -W -A -S") {
		t.Fatalf("change the password: %s", line)
	}
	line = strings.Replace(line, " -W -A -S", " -W -a "+shellQuote(bob.password)+" -s "+shellQuote(newPassword), 1)
	bobCodes := newStepCodes(t, bob)
	out, ok = shellRun(t, fill(line, bob.password+bobCodes.next()))
	if !ok {
		t.Errorf("change the password: %s", out)
	}
	if _, rc := goLDAPBind(t, w.url(), bob.dn, newPassword+bobCodes.next()); rc != 0 {
		t.Errorf("bob with the new password: bind result %d", rc)
	}
}
