package backend

import (
	"fmt"
	"strconv"
	"strings"
)

// maxPOSIXID is the largest uid or gid number: nslcd, SSSD and most
// systems read them as signed 32-bit integers.
const maxPOSIXID = 2147483647

// maxPathLen is PATH_MAX, a bound on what a client is sent.
const maxPathLen = 4096

// posixDraft is a change of the POSIX attributes under way: each may be
// set or not, until ValidatePosix decides whether the whole stands.
type posixDraft struct {
	uid, gid    *uint32
	home, shell string
}

func draftOf(p *Posix) posixDraft {
	if p == nil {
		return posixDraft{}
	}
	uid, gid := p.UIDNumber, p.GIDNumber
	return posixDraft{uid: &uid, gid: &gid, home: p.HomeDirectory, shell: p.LoginShell}
}

// applyPosix applies ch's POSIX fields to old and returns the attributes
// the account will have (nil for none), or why they cannot stand.
func applyPosix(old *Posix, ch ProfileChange) (*Posix, error) {
	d := draftOf(old)
	if ch.NoPosix {
		d = posixDraft{}
	}
	for _, f := range []struct {
		what string
		in   *string
		dst  **uint32
	}{{"uid number", ch.UIDNumber, &d.uid}, {"gid number", ch.GIDNumber, &d.gid}} {
		if f.in == nil {
			continue
		}
		if *f.in == "" {
			*f.dst = nil
			continue
		}
		n, err := ParsePosixID(f.what, *f.in)
		if err != nil {
			return nil, err
		}
		*f.dst = &n
	}
	for _, f := range []struct {
		what string
		in   *string
		dst  *string
	}{{"home directory", ch.HomeDirectory, &d.home}, {"login shell", ch.LoginShell, &d.shell}} {
		if f.in == nil {
			continue
		}
		if *f.in != "" {
			if err := validatePosixPath(f.what, *f.in); err != nil {
				return nil, err
			}
		}
		*f.dst = *f.in
	}
	return d.posix()
}

// posix is the draft as attributes: none, or the three that posixAccount
// requires (RFC 2307) with the optional shell.
func (d posixDraft) posix() (*Posix, error) {
	if d.uid == nil && d.gid == nil && d.home == "" && d.shell == "" {
		return nil, nil
	}
	var missing []string
	if d.uid == nil {
		missing = append(missing, "uid number")
	}
	if d.gid == nil {
		missing = append(missing, "gid number")
	}
	if d.home == "" {
		missing = append(missing, "home directory")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: POSIX attributes need a uid number, a gid number and a home directory together "+
			"(posixAccount, RFC 2307); missing: %s. Give them too, or remove the POSIX attributes altogether",
			ErrInvalidInput, strings.Join(missing, ", "))
	}
	return &Posix{UIDNumber: *d.uid, GIDNumber: *d.gid, HomeDirectory: d.home, LoginShell: d.shell}, nil
}

// ParsePosixID reads a uid or gid number: decimal digits, 0 to 2147483647.
func ParsePosixID(what, s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n > maxPOSIXID || s[0] == '+' {
		return 0, fmt.Errorf("%w: %s %q must be a whole number from 0 to %d", ErrInvalidInput, what, s, maxPOSIXID)
	}
	return uint32(n), nil
}

// validatePosixPath: an absolute path that an IA5String holds (RFC 2307
// homeDirectory and loginShell), without control characters.
func validatePosixPath(what, p string) error {
	if !strings.HasPrefix(p, "/") || len(p) > maxPathLen {
		return fmt.Errorf("%w: %s %q must be an absolute path (beginning with /) of at most %d bytes", ErrInvalidInput, what, p, maxPathLen)
	}
	for i := 0; i < len(p); i++ {
		if c := p[i]; c < 0x20 || c > 0x7e {
			return fmt.Errorf("%w: %s %q may hold printable ASCII characters only (no control characters, no accents)",
				ErrInvalidInput, what, p)
		}
	}
	return nil
}

// posixChanges lists, for the audit record, what differs between a and b.
func posixChanges(a, b *Posix) []any {
	da, db := draftOf(a), draftOf(b)
	num := func(n *uint32) string {
		if n == nil {
			return ""
		}
		return strconv.FormatUint(uint64(*n), 10)
	}
	var out []any
	for _, f := range []struct{ key, was, now string }{
		{"uid_number", num(da.uid), num(db.uid)}, {"gid_number", num(da.gid), num(db.gid)},
		{"home_directory", da.home, db.home}, {"login_shell", da.shell, db.shell},
	} {
		if f.was != f.now {
			out = append(out, f.key, f.now)
		}
	}
	return out
}
