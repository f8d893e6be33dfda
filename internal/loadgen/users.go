package loadgen

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// A User is who binds: a bind name (a DN, or whatever else the server
// takes) and a password.
type User struct {
	Name     string
	Password string
	// TOTPKey, when set, is the key (raw bytes) of a one-time code that
	// each bind appends to Password (ParseUsersTOTP).
	TOTPKey string
}

// maxUserLine bounds a line of a users file, far above any DN and password.
const maxUserLine = 64 << 10

// ReadUsers reads a users file (see ParseUsers).
func ReadUsers(path string) ([]User, error) { return readFile(path, ParseUsers) }

// ReadNames reads a file of names to look up (see ParseNames).
func ReadNames(path string) ([]User, error) { return readFile(path, ParseNames) }

// ReadUsersTOTP reads a users file with TOTP secrets (see ParseUsersTOTP).
func ReadUsersTOTP(path string) ([]User, error) { return readFile(path, ParseUsersTOTP) }

func readFile(path string, parse func(io.Reader, string) ([]User, error)) ([]User, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parse(f, path)
}

// ParseNames reads the names that lookup mode looks up, one a line: the
// first column of a users file (up to a tab, or else up to the first run
// of spaces), so that a users file serves as it is, as does a plain list
// of names or DNs. What follows the name is ignored. Blank lines and
// lines starting with # are skipped. The users have no password.
func ParseNames(r io.Reader, name string) ([]User, error) {
	return parseLines(r, name, "no names: give one a line, a user name or DN", func(line string) (User, error) {
		line = strings.TrimLeft(line, " ")
		n, _, ok := strings.Cut(line, "\t")
		if !ok {
			n, _, _ = strings.Cut(line, " ")
		}
		n = strings.TrimRight(n, " ")
		if n == "" {
			return User{}, errors.New("no name before the tab")
		}
		return User{Name: n}, nil
	})
}

// ParseUsers reads one user per line: the bind name, a tab, then the
// password. A line without a tab is split at its first run of spaces
// instead, which a DN can hold only escaped. The password is the rest of
// the line as it is, spaces included. Blank lines and lines starting with #
// are skipped. Errors name the file (as name) and the line.
func ParseUsers(r io.Reader, name string) ([]User, error) {
	return parseLines(r, name, "no users: give one per line, the bind name, a tab, then the password", parseUserLine)
}

// ParseUsersTOTP reads one user per line as ParseUsers does, with a tab and
// the user's TOTP secret (base32, as an authenticator app takes it) after
// the password: each bind then sends the password followed by the current
// code, as a person signing in does.
func ParseUsersTOTP(r io.Reader, name string) ([]User, error) {
	return parseLines(r, name, "no users: give one per line, the bind name, a tab, the password, a tab, then the TOTP secret",
		func(line string) (User, error) {
			i := strings.LastIndexByte(line, '\t')
			if i < 0 {
				return User{}, errors.New("no TOTP secret: a line is the bind name, a tab, the password, a tab, then the secret")
			}
			u, err := parseUserLine(line[:i])
			if err != nil {
				return User{}, fmt.Errorf("%w; the TOTP secret follows the password after a tab", err)
			}
			key, err := parseTOTPSecret(line[i+1:])
			u.TOTPKey = string(key)
			return u, err
		})
}

// parseLines reads the users of a file, one a line with parse, skipping
// blank lines and comments; none is the error of a file without any.
func parseLines(r io.Reader, name, none string, parse func(string) (User, error)) ([]User, error) {
	var users []User
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), maxUserLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if s := strings.TrimLeft(line, " \t"); s == "" || s[0] == '#' {
			continue
		}
		u, err := parse(line)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, n, err)
		}
		users = append(users, u)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: a line over %d bytes", name, n+1, maxUserLine)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(users) == 0 {
		return nil, fmt.Errorf("%s: %s", name, none)
	}
	return users, nil
}

func parseUserLine(line string) (User, error) {
	line = strings.TrimLeft(line, " ")
	name, password, ok := strings.Cut(line, "\t")
	if !ok {
		i := strings.IndexByte(line, ' ')
		if i < 0 {
			return User{}, errors.New("no password: a line is the bind name, a tab (or spaces), then the password")
		}
		name, password = line[:i], strings.TrimLeft(line[i:], " ")
	}
	name = strings.TrimRight(name, " ")
	switch {
	case name == "":
		return User{}, errors.New("no bind name before the password")
	case password == "":
		// An empty password is an unauthenticated bind (RFC 4513 5.1.2),
		// which measures nothing.
		return User{}, fmt.Errorf("no password after %q", name)
	}
	return User{Name: name, Password: password}, nil
}
