package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/exop"
)

// remoteExec runs wicket in-process; remote commands need no database.
func remoteExec(stdin io.Reader, args ...string) outcome {
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errOut bytes.Buffer
	code := run(context.Background(), args, stdin, &out, &errOut)
	return outcome{out.String(), errOut.String(), code}
}

// remoteClosedURI points at a port nobody listens on, so a command that got
// as far as connecting fails at once.
func remoteClosedURI(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "ldap://" + addr
}

func remoteSecretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// remoteNoPrompt fails the test if a command prompts for anything.
func remoteNoPrompt(t *testing.T) {
	t.Helper()
	old := terminalFor
	t.Cleanup(func() { terminalFor = old })
	terminalFor = func(io.Reader) hiddenReader {
		return func(io.Writer, string) (string, error) {
			t.Error("prompted for a password")
			return "", errors.New("no prompt expected")
		}
	}
}

// Not parallel: it replaces the package's terminal reader.
func TestRemote_FlagMistakesRefusedBeforeAnyPrompt(t *testing.T) {
	remoteNoPrompt(t)
	uri := remoteClosedURI(t)
	short := remoteSecretFile(t, "short\n")
	anyPort := remoteSecretFile(t, "listen = \"127.0.0.1:0\"\n")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no -D", []string{"remote", "-H", uri, "apppw", "list"}, "-D is required"},
		{"empty -D", []string{"remote", "-H", uri, "-D", " ", "apppw", "revoke-all"}, "-D is required"},
		{"not ldap", []string{"remote", "-H", "http://example.org", "-D", "alice", "apppw", "list"}, "ldap:// or ldaps://"},
		{"no host", []string{"remote", "-H", "ldap://", "-D", "alice", "apppw", "list"}, "is not an LDAP URI"},
		{"a DN in the URI", []string{"remote", "-H", "ldap://h/dc=example", "-D", "alice", "apppw", "list"}, "only scheme://host:port"},
		{"no label", []string{"remote", "-H", uri, "-D", "alice", "apppw", "create"}, "label"},
		{"empty label", []string{"remote", "-H", uri, "-D", "alice", "apppw", "create", "--label", " "}, "--label is required"},
		{"no id", []string{"remote", "-H", uri, "-D", "alice", "apppw", "revoke"}, "usage:"},
		{"new password too short", []string{"remote", "-H", uri, "-D", "alice", "passwd", "--new-password-file", short}, "at least 8"},
		{"no new password file", []string{"remote", "-H", uri, "-D", "alice", "passwd", "--new-password-file", short + ".missing"}, "no such file"},
		{"--starttls on ldaps://", []string{"remote", "-H", "ldaps://127.0.0.1:1636", "--starttls", "-D", "alice", "apppw", "list"},
			"TLS from the first byte already"},
		{"no CA file", []string{"remote", "-H", uri, "--ca-file", short + ".missing", "-D", "alice", "apppw", "list"},
			"--ca-file: open"},
		{"a CA file without a certificate", []string{"remote", "-H", uri, "--ca-file", short, "-D", "alice", "apppw", "list"},
			"holds no PEM certificate"},
		{"a configured port of 0", []string{"--config", anyPort, "remote", "-D", "alice", "apppw", "list"},
			`listen = "127.0.0.1:0" names no port`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := remoteExec(nil, tc.args...)
			if o.code == 0 || !strings.Contains(o.stderr, tc.want) {
				t.Errorf("exit %d, stderr %q; want a failure saying %q", o.code, o.stderr, tc.want)
			}
			if o.stdout != "" {
				t.Errorf("failed but printed on stdout: %q", o.stdout)
			}
		})
	}
}

// Without a terminal a missing password file is refused, naming the flag,
// rather than a password read from whatever is piped in.
func TestRemote_NoTerminalNeedsPasswordFiles(t *testing.T) {
	uri := remoteClosedURI(t)
	piped := strings.NewReader("Correct-Horse-alice123456\n")
	o := remoteExec(piped, "remote", "-H", uri, "-D", "alice", "apppw", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "not a terminal") || !strings.Contains(o.stderr, "--password-file") {
		t.Errorf("no --password-file, stdin a pipe: exit %d, stderr %q", o.code, o.stderr)
	}

	bind := remoteSecretFile(t, "Correct-Horse-alice123456\n")
	o = remoteExec(nil, "remote", "-H", uri, "-D", "alice", "--password-file", bind, "passwd")
	if o.code == 0 || !strings.Contains(o.stderr, "--old-password-file") {
		t.Errorf("own passwd without --old-password-file, stdin not a terminal: exit %d, stderr %q", o.code, o.stderr)
	}
	if strings.Contains(o.stderr, "cannot reach") {
		t.Errorf("connected before every secret was at hand: %q", o.stderr)
	}

	// An administrator setting someone else's password needs no old one.
	o = remoteExec(nil, "remote", "-H", uri, "-D", "root", "--password-file", bind, "passwd", "--user", "alice")
	if o.code == 0 || !strings.Contains(o.stderr, "cannot reach wicket at "+uri) {
		t.Errorf("passwd --user: exit %d, stderr %q; want it to get as far as connecting", o.code, o.stderr)
	}
}

// Not parallel: it replaces the package's terminal reader.
func TestRemote_PromptsOnStderr(t *testing.T) {
	uri := remoteClosedURI(t)
	fakeTerminal(t, "Correct-Horse-alice123456", "Correct-Horse-alice")
	o := remoteExec(nil, "remote", "-H", uri, "-D", "alice", "passwd")
	contains(t, "passwd prompts", o.stderr, "Password for alice, followed by the current one-time code:",
		"Current password for alice, without a code:", "cannot reach wicket at "+uri)
	if o.stdout != "" {
		t.Errorf("prompts or output on stdout: %q", o.stdout)
	}
	if strings.Contains(o.stderr, "Correct-Horse") {
		t.Errorf("a password was printed: %q", o.stderr)
	}

	fakeTerminal(t, "")
	o = remoteExec(nil, "remote", "-H", uri, "-D", "alice", "apppw", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "no bind password typed") {
		t.Errorf("empty password at the prompt: exit %d, stderr %q", o.code, o.stderr)
	}
}

func TestReadSecretFile_FirstLineWithoutItsEnding(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		content, want string
	}{
		{"Correct-Horse\n", "Correct-Horse"},
		{"Correct-Horse\r\nsecond line\n", "Correct-Horse"},
		{"  spaced password \n", "  spaced password "},
		{"no newline", "no newline"},
	} {
		got, err := readSecretFile(remoteSecretFile(t, tc.content), "bind password")
		if err != nil || got != tc.want {
			t.Errorf("file %q: got %q, %v; want %q", tc.content, got, err, tc.want)
		}
	}
	for _, content := range []string{"", "\n", "\r\nCorrect-Horse\n"} {
		_, err := readSecretFile(remoteSecretFile(t, content), "bind password")
		if err == nil || !strings.Contains(err.Error(), "first line is empty") {
			t.Errorf("file %q: err %v; want the empty first line refused", content, err)
		}
	}
	_, err := readSecretFile(filepath.Join(t.TempDir(), "missing"), "bind password")
	if err == nil || !strings.Contains(err.Error(), "bind password") {
		t.Errorf("missing file: err %v", err)
	}
}

func TestResultName_RFC4511Names(t *testing.T) {
	t.Parallel()
	for code, want := range map[uint16]string{
		ldap.LDAPResultInsufficientAccessRights: "insufficientAccessRights",
		ldap.LDAPResultInvalidCredentials:       "invalidCredentials",
		ldap.LDAPResultUnwillingToPerform:       "unwillingToPerform",
		ldap.LDAPResultAdminLimitExceeded:       "adminLimitExceeded",
		ldap.LDAPResultInvalidDNSyntax:          "invalidDNSyntax",
		ldap.LDAPResultSaslBindInProgress:       "saslBindInProgress",
		ldap.LDAPResultStrongAuthRequired:       "strongerAuthRequired",
		ldap.LDAPResultOther:                    "other",
		ldap.LDAPResultCanceled:                 "canceled",
		ldap.ErrorNetwork:                       "unknown",
		999:                                     "unknown",
	} {
		if got := resultName(code); got != want {
			t.Errorf("resultName(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestRemoteError_OneLine(t *testing.T) {
	t.Parallel()
	const diag = "this session signed in with an app password, which cannot create or revoke app passwords"
	for _, tc := range []struct {
		name string
		err  error
		bind bool
		want string
	}{
		{"refusal", ldap.NewError(ldap.LDAPResultInsufficientAccessRights, errors.New(diag)), false,
			"insufficientAccessRights (50): " + diag},
		{"no diagnostic", ldap.NewError(ldap.LDAPResultNoSuchObject, errors.New("")), false, "noSuchObject (32)"},
		{"lost connection", ldap.NewError(ldap.ErrorNetwork, errors.New("ldap: connection closed")), false,
			"talking to ldap://wicket: ldap: connection closed"},
		{"bind", ldap.NewError(ldap.LDAPResultInvalidCredentials, errors.New("")), true,
			"bind failed: invalid credentials (49); type your password immediately followed by a current one-time code"},
		{"bind refused", ldap.NewError(ldap.LDAPResultUnwillingToPerform, errors.New("unauthenticated bind")), true,
			"bind failed: unwilling to perform (53): unauthenticated bind"},
	} {
		var err error
		if tc.bind {
			err = bindError("ldap://wicket", tc.err)
		} else {
			err = remoteError("ldap://wicket", tc.err)
		}
		msg := userMessage(err)
		if !strings.HasPrefix(msg, tc.want) || strings.Contains(msg, "\n") {
			t.Errorf("%s: %q, want one line starting %q", tc.name, msg, tc.want)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: the LDAP error is not kept underneath", tc.name)
		}
	}
}

// fakeServer answers a remoteSession over a pipe: answer gets each request's
// protocolOp and returns the response's, written chunk bytes at a time.
func fakeServer(t *testing.T, chunk int, answer func(op *ber.Packet) *ber.Packet) *remoteSession {
	t.Helper()
	client, server := net.Pipe()
	conn := ldap.NewConn(client, false)
	conn.Start()
	conn.SetTimeout(10 * time.Second)
	go func() {
		defer server.Close()
		for {
			req, err := ber.ReadPacket(server)
			if err != nil || len(req.Children) < 2 || req.Children[1].Tag == ldap.ApplicationUnbindRequest {
				return
			}
			id, _ := req.Children[0].Value.(int64)
			msg := ber.NewSequence("LDAPMessage")
			msg.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagInteger, id, ""))
			msg.AppendChild(answer(req.Children[1]))
			b := msg.Bytes()
			for len(b) > 0 {
				n := min(chunk, len(b))
				if _, err := server.Write(b[:n]); err != nil {
					return
				}
				b = b[n:]
			}
		}
	}()
	t.Cleanup(func() { conn.Close() })
	return &remoteSession{conn: conn, uri: "ldap://fake", bindName: "alice"}
}

func extendedResponse(code int64, diag string, value []byte) *ber.Packet {
	p := ber.Encode(ber.ClassApplication, ber.TypeConstructed, ldap.ApplicationExtendedResponse, nil, "")
	p.AppendChild(ber.NewInteger(ber.ClassUniversal, ber.TypePrimitive, ber.TagEnumerated, code, ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, "", ""))
	p.AppendChild(ber.NewString(ber.ClassUniversal, ber.TypePrimitive, ber.TagOctetString, diag, ""))
	if value != nil {
		v := ber.Encode(ber.ClassContext, ber.TypePrimitive, 11, nil, "")
		v.Data.Write(value)
		p.AppendChild(v)
	}
	return p
}

// The request value reaches the server wrapped once in [1], and the
// response value comes back as the exop bytes the server sent.
func TestRemoteExtended_ValueWrappedOnceAnswerDecoded(t *testing.T) {
	t.Parallel()
	req := exop.CreateRequest{Label: "Thunderbird on laptop", Target: "bob"}
	want := exop.CreateResponse{ID: "5b725efe4a", Password: "abcd-efgh-ijkl-mnop", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	got := make(chan []byte, 1)
	s := fakeServer(t, 1<<10, func(op *ber.Packet) *ber.Packet {
		if op.Tag != ldap.ApplicationExtendedRequest || len(op.Children) != 2 {
			got <- nil
			return extendedResponse(int64(ldap.LDAPResultProtocolError), "want name and value", nil)
		}
		v := op.Children[1]
		if v.ClassType != ber.ClassContext || v.Tag != 1 || v.TagType != ber.TypePrimitive {
			got <- nil
		} else {
			got <- v.Data.Bytes()
		}
		return extendedResponse(0, "", want.Encode())
	})
	value, err := s.extended(exop.OIDAppPasswordCreate, req.Encode())
	if err != nil {
		t.Fatal(err)
	}
	if sent := <-got; !bytes.Equal(sent, req.Encode()) {
		t.Errorf("requestValue content %x, want the AppPasswordCreateRequest %x", sent, req.Encode())
	}
	res, err := exop.DecodeCreateResponse(value)
	if err != nil || res != want {
		t.Errorf("decoded %+v, %v; want %+v", res, err, want)
	}
}

func TestRemoteExtended_RefusalIsOneLine(t *testing.T) {
	t.Parallel()
	s := fakeServer(t, 1<<10, func(*ber.Packet) *ber.Packet {
		return extendedResponse(int64(ldap.LDAPResultInsufficientAccessRights), "only administrators may manage another user's app passwords or password", nil)
	})
	_, err := s.extended(exop.OIDAppPasswordRevokeAll, exop.RevokeAllRequest{Target: "bob"}.Encode())
	want := "insufficientAccessRights (50): only administrators may manage another user's app passwords or password"
	if err == nil || userMessage(err) != want {
		t.Errorf("got %v, want %q", err, want)
	}
}

// ldaps:// checks the server's certificate: one nobody vouches for is
// refused before a password is sent.
func TestRemote_LDAPSRefusesAnUntrustedCertificate(t *testing.T) {
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	uri := "ldaps://" + srv.Listener.Addr().String()
	bind := remoteSecretFile(t, "Correct-Horse-alice123456\n")
	o := remoteExec(nil, "remote", "-H", uri, "-D", "alice", "--password-file", bind, "apppw", "list")
	if o.code == 0 || !strings.Contains(o.stderr, "cannot reach wicket at "+uri) || !strings.Contains(o.stderr, "certificate") {
		t.Errorf("exit %d, stderr %q; want the certificate refused", o.code, o.stderr)
	}
}
