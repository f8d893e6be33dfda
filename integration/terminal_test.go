package integration

import (
	"bytes"
	"errors"
	"io"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// ptySession runs one wicket command on a pseudo-terminal, as an
// administrator typing at a shell would: script(1) from util-linux gives
// the command a terminal and copies what the test writes into it, and all
// the terminal shows (prompts, echo, output) back.
type ptySession struct {
	t     *testing.T
	cmd   *exec.Cmd
	in    io.WriteCloser
	mu    sync.Mutex
	shown bytes.Buffer
	more  chan struct{} // a token whenever something more was shown
	done  chan error
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func (w *wicket) onTerminal(t *testing.T, args ...string) *ptySession {
	t.Helper()
	line := []string{shellQuote(*wicketBin), "--config", shellQuote(w.cfg)}
	for _, a := range args {
		line = append(line, shellQuote(a))
	}
	// -e: script exits as the command did; -q: without its own banners.
	s := &ptySession{t: t, more: make(chan struct{}, 1), done: make(chan error, 1)}
	s.cmd = exec.Command(requireTool(t, "script"), "-qec", strings.Join(line, " "), "/dev/null")
	var err error
	if s.in, err = s.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := out.Read(buf)
			s.mu.Lock()
			s.shown.Write(buf[:n])
			s.mu.Unlock()
			select {
			case s.more <- struct{}{}:
			default:
			}
			if err != nil {
				s.done <- s.cmd.Wait()
				return
			}
		}
	}()
	t.Cleanup(func() {
		s.in.Close()
		s.cmd.Process.Kill()
	})
	return s
}

func (s *ptySession) screen() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.shown.String()
}

// waitFor waits until the terminal has shown text since from, and returns
// where it ends.
func (s *ptySession) waitFor(text string, from int) int {
	s.t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		if i := strings.Index(s.screen()[from:], text); i >= 0 {
			return from + i + len(text)
		}
		select {
		case <-s.more:
		case err := <-s.done:
			s.done <- err
			if i := strings.Index(s.screen()[from:], text); i >= 0 {
				return from + i + len(text)
			}
			s.t.Fatalf("the command ended (%v) without showing %q; the terminal showed:\n%s", err, text, s.screen())
		case <-deadline:
			s.t.Fatalf("%q not shown within 30 s; the terminal showed:\n%s", text, s.screen())
		}
	}
}

// typeLine types a line and Enter, which a terminal sends as a carriage return.
func (s *ptySession) typeLine(line string) {
	s.t.Helper()
	if _, err := io.WriteString(s.in, line+"\r"); err != nil {
		s.t.Fatal(err)
	}
}

// exit waits for the command to end and returns its exit status.
func (s *ptySession) exit() int {
	s.t.Helper()
	select {
	case err := <-s.done:
		var ee *exec.ExitError
		switch {
		case err == nil:
			return 0
		case errors.As(err, &ee):
			return ee.ExitCode()
		}
		s.t.Fatalf("script: %v", err)
	case <-time.After(30 * time.Second):
		s.t.Fatalf("the command did not end within 30 s; the terminal showed:\n%s", s.screen())
	}
	return -1
}

// deploy/README.md has administrators type `wicket user add dovecot --role
// service --password-stdin` at a shell: the password is asked for on the
// terminal, twice, and never shown, as without the flag; and so is a hash
// given as '-'.
func TestTerminal_PasswordStdinPromptsWithoutEcho(t *testing.T) {
	w := startWicket(t, "")
	const password = "Typed-At-A-Terminal-42"

	s := w.onTerminal(t, "user", "add", "dovecot", "--role", "service", "--password-stdin")
	at := s.waitFor("New password for dovecot: ", 0)
	s.typeLine(password)
	at = s.waitFor("Repeat the password: ", at)
	s.typeLine(password)
	if code := s.exit(); code != 0 {
		t.Fatalf("user add --password-stdin at a terminal: exit %d; the terminal showed:\n%s", code, s.screen())
	}
	shown := s.screen()
	if !strings.Contains(shown, "created account dovecot (role service)") {
		t.Errorf("the terminal showed:\n%s", shown)
	}
	if strings.Contains(shown, password) {
		t.Errorf("the password was echoed; the terminal showed:\n%s", shown)
	}
	// The service account binds with what was typed, and only with that.
	dn := "uid=dovecot,ou=people,dc=example,dc=org"
	if _, rc := goLDAPBind(t, w.url(), dn, password); rc != 0 {
		t.Errorf("bind with the password typed at the terminal: result %d, want 0", rc)
	}
	if _, rc := goLDAPBind(t, w.url(), dn, password+"\r"); rc != 49 {
		t.Errorf("bind with the password and a carriage return: result %d, want 49", rc)
	}

	// Two different passwords change nothing.
	s = w.onTerminal(t, "user", "passwd", "dovecot", "--password-stdin")
	at = s.waitFor("New password for dovecot: ", 0)
	s.typeLine("Another-Password-1")
	at = s.waitFor("Repeat the password: ", at)
	s.typeLine("Another-Password-2")
	if code := s.exit(); code == 0 || !strings.Contains(s.screen(), "do not match") {
		t.Errorf("mismatched passwords: exit %d; the terminal showed:\n%s", code, s.screen())
	}
	if _, rc := goLDAPBind(t, w.url(), dn, password); rc != 0 {
		t.Errorf("after a refused change, the old password: result %d, want 0", rc)
	}

	const hash = "{SSHA}gQbnru21e8jjtIHnPCd/+o9AY/yhssPU5fYHGA=="
	s = w.onTerminal(t, "user", "passwd", "dovecot", "--password-hash", "-")
	s.waitFor("Password hash: ", 0)
	s.typeLine(hash)
	if code := s.exit(); code != 0 {
		t.Fatalf("user passwd --password-hash - at a terminal: exit %d; the terminal showed:\n%s", code, s.screen())
	}
	if strings.Contains(s.screen(), "gQbnru21") {
		t.Errorf("the hash was echoed; the terminal showed:\n%s", s.screen())
	}
	if _, rc := goLDAPBind(t, w.url(), dn, password); rc != 49 {
		t.Errorf("after the hash was set, the old password: result %d, want 49", rc)
	}
}
