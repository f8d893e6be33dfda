package main

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"
)

// benchServer answers simple binds and searches on loopback, as go-ldap
// would have a server encode them: a bind gets invalidCredentials for the
// password "wrong", success otherwise; a search finds one entry, none if
// its filter holds the value "nobody".
func benchServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			go benchAnswer(nc)
		}
	}()
	return "ldap://" + l.Addr().String()
}

func benchAnswer(nc net.Conn) {
	defer nc.Close()
	for {
		req, err := ber.ReadPacket(nc)
		if err != nil || len(req.Children) < 2 {
			return
		}
		id, op := req.Children[0].Value, req.Children[1]
		var out []byte
		switch {
		case op.Tag == ldap.ApplicationBindRequest && len(op.Children) == 3:
			code := ldap.LDAPResultSuccess
			if op.Children[2].Data.String() == "wrong" {
				code = ldap.LDAPResultInvalidCredentials
			}
			out = benchResult(id, ldap.ApplicationBindResponse, code)
		case op.Tag == ldap.ApplicationSearchRequest && len(op.Children) == 8:
			filter, err := ldap.DecompileFilter(op.Children[6])
			if err != nil {
				return
			}
			if !strings.Contains(filter, "=nobody") {
				entry := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationSearchResultEntry, nil, "")
				entry.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "uid=x,dc=example,dc=org", ""))
				entry.AppendChild(ber.NewSequence(""))
				out = benchMessage(id, entry)
			}
			out = append(out, benchResult(id, ldap.ApplicationSearchResultDone, ldap.LDAPResultSuccess)...)
		default:
			return
		}
		if _, err := nc.Write(out); err != nil {
			return
		}
	}
}

func benchResult(id any, tag ber.Tag, code int) []byte {
	res := ber.Encode(ber.ClassApplication, ber.TypeConstructed, tag, nil, "")
	res.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, int64(code), ""))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	res.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	return benchMessage(id, res)
}

func benchMessage(id any, op *ber.Packet) []byte {
	msg := ber.NewSequence("")
	msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
	msg.AppendChild(op)
	return msg.Bytes()
}

func benchUsersFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "users.txt")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Every mistake is refused with what to do, before anything is sent:
// -H points where nobody listens, so a command that went as far as
// connecting would say so instead.
func TestBench_FlagMistakesRefused(t *testing.T) {
	t.Parallel()
	uri := remoteClosedURI(t)
	users := benchUsersFile(t, "uid=alice,ou=people,dc=example,dc=org\tpw\n")
	bad := benchUsersFile(t, "# users\nalice\tpw\nbob\n")
	pw := remoteSecretFile(t, "pw\n")
	one := []string{"bench", "-H", uri, "-D", "alice", "-y", pw}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"--users and -D", []string{"bench", "-H", uri, "--users", users, "-D", "alice", "-y", pw}, "--users and -D/-y/-w are exclusive"},
		{"--users and -y", []string{"bench", "-H", uri, "--users", users, "-y", pw}, "--users and -D/-y/-w are exclusive"},
		{"--users and -w", []string{"bench", "-H", uri, "--users", users, "-w", "pw"}, "--users and -D/-y/-w are exclusive"},
		{"-y and -w", append(one, "-w", "pw"), "-w and -y are exclusive"},
		{"nobody", []string{"bench", "-H", uri}, "who binds? give --users FILE, or -D NAME -y FILE"},
		{"-D without a password", []string{"bench", "-H", uri, "-D", "alice"}, "-D needs -y FILE"},
		{"-y without -D", []string{"bench", "-H", uri, "-y", pw}, "-y and -w need -D NAME"},
		{"-w without -D", []string{"bench", "-H", uri, "-w", "pw"}, "-y and -w need -D NAME"},
		{"-y of a missing file", []string{"bench", "-H", uri, "-D", "alice", "-y", pw + ".missing"}, "reading the password of -D"},
		{"-y of an empty file", []string{"bench", "-H", uri, "-D", "alice", "-y", remoteSecretFile(t, "\n")}, "the first line is empty"},
		{"-y - with nothing on standard input", []string{"bench", "-H", uri, "-D", "alice", "-y", "-"}, "standard input: the first line is empty"},
		{"--duration and --count", append(one, "--duration", "5s", "--count", "100"), "--duration and --count are exclusive"},
		{"unknown mode", append(one, "--mode", "search"), `--mode "search": the modes are bind, connect-bind, bind-search and lookup`},
		{"concurrency 0", append(one, "--concurrency", "0"), "--concurrency 0: at least 1 worker"},
		{"negative concurrency", append(one, "--concurrency", "-3"), "--concurrency -3: at least 1 worker"},
		{"count 0", append(one, "--count", "0"), "--count 0: at least 1 operation"},
		{"duration 0", append(one, "--duration", "0s"), "--duration 0s: must be positive"},
		{"negative warmup", append(one, "--warmup", "-1s"), "--warmup -1s: cannot be negative"},
		{"timeout 0", append(one, "--timeout", "0s"), "--timeout 0s: must be positive"},
		{"negative rate", append(one, "--rate", "-5"), "--rate -5: give operations a second, or 0 for no limit"},
		{"rate not a number", append(one, "--rate", "NaN"), "--rate NaN: give operations a second"},
		{"rate of words", append(one, "--rate", "fast"), `invalid argument "fast" for "--rate"`},
		{"--base without a search", append(one, "--base", "dc=example,dc=org"), "--mode bind does not search"},
		{"--filter without a search", append(one, "--mode", "connect-bind", "--filter", "(cn=%u)"), "--mode connect-bind does not search"},
		{"no base for a bare name", append(one, "--mode", "bind-search"), `"alice" is not a DN with a parent to search under: give the search base (--base)`},
		{"a filter that does not compile", append(one, "--mode", "bind-search", "--base", "dc=x", "--filter", "(uid=%u"), "filter (uid=alice (for alice)"},
		{"lookup without names", append(one, "--mode", "lookup"), "--mode lookup looks up the names of a file: give --users FILE"},
		{"lookup without a service account", []string{"bench", "-H", uri, "--mode", "lookup", "--users", users}, "--mode lookup binds once as a service account: give it with -D NAME -y FILE"},
		{"lookup with -y only", []string{"bench", "-H", uri, "--mode", "lookup", "--users", users, "-y", pw}, "--mode lookup binds once as a service account"},
		{"lookup, -D without a password", []string{"bench", "-H", uri, "--mode", "lookup", "--users", users, "-D", "postfix"}, "-D needs -y FILE"},
		{"lookup, a names file without names", append(one, "--mode", "lookup", "--users", benchUsersFile(t, "# none\n")), "no names: give one a line"},
		{"lookup, a filter that does not compile", append(one, "--mode", "lookup", "--users", users, "--filter", "(mail=%u"), "filter (mail=alice (for uid=alice,ou=people,dc=example,dc=org)"},
		{"--insecure in the clear", append(one, "--insecure"), "--insecure is for ldaps://"},
		{"not ldap", []string{"bench", "-H", "http://127.0.0.1:1389", "-D", "alice", "-y", pw}, "ldap:// or ldaps://"},
		{"a bad users line", []string{"bench", "-H", uri, "--users", bad}, bad + ":3: no password"},
		{"no users file", []string{"bench", "-H", uri, "--users", bad + ".missing"}, "no such file"},
		{"--totp with -D", append(one, "--totp"), "--totp reads each user's TOTP secret from --users FILE"},
		{"--totp in lookup", []string{"bench", "-H", uri, "--mode", "lookup", "--users", users, "-D", "postfix", "-y", pw, "--totp"}, "lookup mode binds only its service account"},
		{"--totp without secrets", []string{"bench", "-H", uri, "--users", users, "--totp"}, users + ":1: no password"},
		{"an argument", append(one, "extra"), "usage: wicket bench"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := remoteExec(nil, tc.args...)
			if o.code == 0 || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", o.code, o.stderr, tc.want)
			}
			if strings.Contains(o.stderr, "cannot connect") {
				t.Errorf("connected before the flags were checked: %q", o.stderr)
			}
			if o.stdout != "" {
				t.Errorf("failed but printed on stdout: %q", o.stdout)
			}
		})
	}
}

func TestBench_TextReportAndProgressLines(t *testing.T) {
	t.Parallel()
	uri := benchServer(t)
	users := benchUsersFile(t, "alice\tpw\nbob\twrong\ncarol pw\n")
	o := remoteExec(nil, "bench", "-H", uri, "--users", users, "--concurrency", "3", "--duration", "1200ms")
	if o.code != 0 {
		t.Fatalf("exit %d: %s", o.code, o.stderr)
	}
	contains(t, "report", o.stdout, "mode          bind\n", "url           "+uri+"\n", "concurrency   3\n",
		"users         3\n", "latency (ms)  mean ", "errors        invalidCredentials (49): ")
	// Not a terminal: a line a second, kept.
	if !strings.HasPrefix(o.stderr, "1s: ") || strings.Contains(o.stderr, "\r") {
		t.Errorf("progress on stderr: %q", o.stderr)
	}

	o = remoteExec(nil, "bench", "-H", uri, "--users", users, "--count", "30", "--quiet", "--json")
	var rep struct {
		Operations, Succeeded, Failed int
		Errors                        []struct {
			Result string
			Code   int
			Count  int
		}
	}
	decode(t, o.stdout, &rep)
	// 16 workers, 3 users: workers 0 to 13 bind twice, as users i and
	// i+16 (mod 3), workers 14 and 15 once. bob (1) is the first of
	// workers 1, 4, 7, 10 and 13 and the second of 0, 3, 6, 9 and 12.
	if rep.Operations != 30 || rep.Failed != 10 || len(rep.Errors) != 1 ||
		rep.Errors[0].Result != "invalidCredentials" || rep.Errors[0].Code != 49 || rep.Errors[0].Count != 10 {
		t.Errorf("report %+v", rep)
	}
	if o.stderr != "" {
		t.Errorf("--quiet printed %q", o.stderr)
	}
}

// A run where nothing succeeds is a failure, with why, and no report that
// a script could take for a measurement.
func TestBench_NothingSucceededFails(t *testing.T) {
	t.Parallel()
	uri := benchServer(t)
	o := remoteExec(nil, "bench", "-H", uri, "-D", "alice", "-y", remoteSecretFile(t, "wrong\n"), "--count", "20", "--concurrency", "2", "--json")
	if o.code == 0 || o.stdout != "" || !strings.Contains(o.stderr, "not one of 20 operations succeeded: invalidCredentials (49): 20") {
		t.Errorf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}

	closed := remoteClosedURI(t)
	o = remoteExec(nil, "bench", "-H", closed, "-D", "alice", "-y", remoteSecretFile(t, "pw"), "--count", "20")
	if o.code == 0 || o.stdout != "" || !strings.Contains(o.stderr, "cannot connect to "+closed) {
		t.Errorf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}
}

// The password of -D comes from -y FILE or -y - (standard input), as
// ldap-utils' -y, or from -w, which shows it in the process list. The
// server answers 49 to "wrong" only: each source is seen to reach the bind.
func TestBench_PasswordOfDFromEachSource(t *testing.T) {
	t.Parallel()
	uri := benchServer(t)
	for _, tc := range []struct {
		name  string
		stdin string
		args  []string
		ok    bool
	}{
		{"-y FILE", "", []string{"-y", remoteSecretFile(t, "pw\n")}, true},
		{"-y FILE of ldap-utils, no newline", "", []string{"-y", remoteSecretFile(t, "pw")}, true},
		{"--password-file FILE", "", []string{"--password-file", remoteSecretFile(t, "pw\r\n")}, true},
		{"-y FILE with the wrong password", "", []string{"-y", remoteSecretFile(t, "wrong\n")}, false},
		{"-y - reads standard input", "pw\n", []string{"-y", "-"}, true},
		{"-y - with the wrong password", "wrong\nsecond line\n", []string{"-y", "-"}, false},
		{"-w, still accepted", "", []string{"-w", "pw"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"bench", "-H", uri, "-D", "alice", "--count", "4", "--concurrency", "1", "--quiet", "--json"}, tc.args...)
			o := remoteExec(strings.NewReader(tc.stdin), args...)
			switch {
			case tc.ok && o.code != 0:
				t.Errorf("exit %d: %s", o.code, o.stderr)
			case !tc.ok && (o.code == 0 || !strings.Contains(o.stderr, "invalidCredentials (49): 4")):
				t.Errorf("exit %d, stderr %q; want the 4 binds refused", o.code, o.stderr)
			}
		})
	}
}

func TestBench_HelpSaysWhichFlagExposesThePassword(t *testing.T) {
	t.Parallel()
	o := remoteExec(nil, "bench", "--help")
	contains(t, "bench --help", o.stdout, "-y, --password-file", "exposes it in the process list; prefer -y")
}

// --rate caps the operations a second of all the workers together: 40
// operations at 50 a second span at least 39 fiftieths of a second, where
// the server alone would answer them in milliseconds.
func TestBench_RateCapsTheLoad(t *testing.T) {
	t.Parallel()
	uri := benchServer(t)
	o := remoteExec(nil, "bench", "-H", uri, "-D", "alice", "-y", remoteSecretFile(t, "pw"),
		"--count", "40", "--concurrency", "4", "--rate", "50", "--json", "--quiet")
	var rep struct {
		Operations      int     `json:"operations"`
		DurationSeconds float64 `json:"duration_seconds"`
		RateLimit       float64 `json:"rate_limit"`
	}
	decode(t, o.stdout, &rep)
	if o.code != 0 || rep.Operations != 40 || rep.RateLimit != 50 || rep.DurationSeconds < 0.78 {
		t.Errorf("exit %d, report %+v (stderr %q); want 40 operations over at least 0.78 s, rate_limit 50", o.code, rep, o.stderr)
	}
}

// Lookup binds once as -D and looks up the names of --users, a users file
// or a list of names, with the search it reports; a name that is not
// found is noEntry.
func TestBench_LookupAsAServiceAccount(t *testing.T) {
	t.Parallel()
	uri := benchServer(t)
	names := benchUsersFile(t, "alice\nuid=bob,ou=people,dc=example,dc=org\tpw\nnobody\ncarol\n")
	o := remoteExec(nil, "bench", "-H", uri, "--mode", "lookup", "-D", "cn=postfix,dc=mail,dc=test", "-y", remoteSecretFile(t, "pw"),
		"--users", names, "--count", "40", "--concurrency", "4", "--quiet", "--json")
	var rep struct {
		Mode         string `json:"mode"`
		Users        int    `json:"users"`
		Service      string `json:"service"`
		SearchBase   string `json:"search_base"`
		SearchFilter string `json:"search_filter"`
		Operations   int    `json:"operations"`
		Failed       int    `json:"failed"`
		Errors       []struct {
			Result string `json:"result"`
			Count  int    `json:"count"`
		} `json:"errors"`
	}
	decode(t, o.stdout, &rep)
	// 4 workers start at names 0 to 3 and look up 10 names each in turn:
	// nobody, the third, 10 times.
	if o.code != 0 || rep.Mode != "lookup" || rep.Users != 4 || rep.Service != "cn=postfix,dc=mail,dc=test" ||
		rep.SearchBase != "ou=people,dc=mail,dc=test" || rep.SearchFilter != "(mail=%u@mail.test)" ||
		rep.Operations != 40 || rep.Failed != 10 || len(rep.Errors) != 1 || rep.Errors[0].Result != "noEntry" || rep.Errors[0].Count != 10 {
		t.Errorf("exit %d, report %+v (stderr %q)", o.code, rep, o.stderr)
	}

	// The service account's password is checked before the run starts.
	o = remoteExec(nil, "bench", "-H", uri, "--mode", "lookup", "-D", "postfix", "-y", remoteSecretFile(t, "wrong"),
		"--users", names, "--count", "40")
	if o.code == 0 || o.stdout != "" || !strings.Contains(o.stderr, "the service account postfix cannot bind to "+uri+": invalidCredentials (49)") {
		t.Errorf("exit %d, stdout %q, stderr %q", o.code, o.stdout, o.stderr)
	}

	o = remoteExec(nil, "bench", "-H", uri, "--mode", "lookup", "-D", "postfix", "-w", "pw", "--users", names,
		"--filter", "(uid=%u)", "--base", "dc=x", "--duration", "1200ms", "--concurrency", "2", "--quiet")
	contains(t, "text report", o.stdout, "mode          lookup\n", "users         4\n", "service       postfix\n",
		"search        (uid=%u) under dc=x\n", "errors        noEntry: ", "(nothing found for nobody under dc=x)")
}
