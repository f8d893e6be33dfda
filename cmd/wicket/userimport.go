package main

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

// readPasswordHash resolves --password-hash: the value itself, or with '-'
// the first line of standard input (asked for without echo at a terminal),
// checked before anything is opened.
func readPasswordHash(cmd *cobra.Command, value string) (string, error) {
	if value == "-" {
		in := cmd.InOrStdin()
		var err error
		if read := terminalFor(in); read != nil {
			value, err = read(cmd.ErrOrStderr(), "Password hash: ")
		} else {
			value, err = readLine(in)
		}
		if err != nil {
			return "", fmt.Errorf("reading the password hash from standard input: %w", err)
		}
	}
	value = strings.TrimSpace(value)
	if value == "" {
		return "", errors.New("no password hash given")
	}
	return value, backend.ValidatePasswordHash(value)
}

// ldifEntry is one record of an LDIF file, attribute names folded to lower
// case and stripped of options (userPassword;binary is userPassword).
type ldifEntry struct {
	line  int // where the record starts, for messages
	dn    string
	attrs map[string][]string
}

// maxLDIFLine bounds one unfolded line, far above any userPassword.
const maxLDIFLine = 1 << 20

// parseLDIF reads the content records of RFC 2849, as slapcat and
// ldapsearch -LLL write them. Values given by URL, and change records, are
// refused: an export never has them.
func parseLDIF(r io.Reader) ([]ldifEntry, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxLDIFLine)
	var entries []ldifEntry
	var cur *ldifEntry
	var logical string // the current line with its continuations
	logicalStart, n := 0, 0

	flushLine := func() error {
		if logical == "" {
			return nil
		}
		line := logical
		logical = ""
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("line %d: expected 'attribute: value'", logicalStart)
		}
		name = strings.ToLower(strings.TrimSpace(name))
		name, _, _ = strings.Cut(name, ";")
		switch {
		case strings.HasPrefix(value, ":"):
			raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(value[1:]))
			if err != nil {
				return fmt.Errorf("line %d: %s: bad base64 value", logicalStart, name)
			}
			value = string(raw)
		case strings.HasPrefix(value, "<"):
			return fmt.Errorf("line %d: %s: values given by URL are not supported", logicalStart, name)
		default:
			value = strings.TrimLeft(value, " ")
		}
		if cur == nil {
			if name == "version" && len(entries) == 0 {
				return nil
			}
			entries = append(entries, ldifEntry{line: logicalStart, attrs: map[string][]string{}})
			cur = &entries[len(entries)-1]
		}
		switch name {
		case "dn":
			cur.dn = value
		case "changetype":
			return fmt.Errorf("line %d: LDIF change records are not supported; export the directory with slapcat or ldapsearch", logicalStart)
		default:
			cur.attrs[name] = append(cur.attrs[name], value)
		}
		return nil
	}

	inComment := false // comments may be folded too
	for sc.Scan() {
		n++
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.HasPrefix(line, " ") && (logical != "" || inComment) {
			if !inComment {
				logical += line[1:]
			}
			continue
		}
		if err := flushLine(); err != nil {
			return nil, err
		}
		inComment = strings.HasPrefix(line, "#")
		switch {
		case inComment:
		case strings.TrimSpace(line) == "":
			cur = nil
		default:
			logical, logicalStart = line, n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	if err := flushLine(); err != nil {
		return nil, err
	}
	return entries, nil
}

// uid is the entry's account name: its uid attribute, else the uid of its
// DN's first RDN. Entries with neither (the base, ou=, groups) are not
// accounts.
func (e *ldifEntry) uid() string {
	if v := e.attrs["uid"]; len(v) > 0 {
		return v[0]
	}
	dn, err := ldap.ParseDN(e.dn)
	if err != nil || len(dn.RDNs) == 0 {
		return ""
	}
	for _, a := range dn.RDNs[0].Attributes {
		if strings.EqualFold(a.Type, "uid") {
			return a.Value
		}
	}
	return ""
}

type importAccount struct {
	Name   string `json:"name"`
	DN     string `json:"dn,omitempty"`
	Mail   string `json:"mail,omitempty"`
	Line   int    `json:"line"`
	Scheme string `json:"scheme,omitempty"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// UUID is the entry's entryUUID, kept (slapcat writes it).
	UUID string `json:"entry_uuid,omitempty"`
	hash string
	uuid backend.UUID
}

// where names an entry for a report: its line and DN.
func (a *importAccount) where() string {
	if a.DN == "" {
		return fmt.Sprintf("line %d", a.Line)
	}
	return fmt.Sprintf("line %d (%s)", a.Line, a.DN)
}

// Statuses of an entry: the account created, found, or not imported.
const (
	importCreated     = "created"
	importExists      = "exists"
	importWouldCreate = "would create"
	// importSkipped: the entry cannot be imported as it is (a bad name, a
	// uid given twice, no usable hash); nothing was tried.
	importSkipped = "skipped"
	// importFailed: the account was refused at its creation (an address
	// in use); nothing of it was written.
	importFailed = "failed"
)

// planImport turns entries into accounts, and the entries that cannot be
// imported into skipped ones, every problem of the file at once.
func planImport(entries []ldifEntry) (accounts, skipped []importAccount) {
	seen := map[string]int{}
	seenUUID := map[backend.UUID]int{}
	for i := range entries {
		e := &entries[i]
		uid := e.uid()
		if uid == "" {
			continue
		}
		a := importAccount{Name: strings.ToLower(uid), DN: e.dn, Line: e.line}
		if v := e.attrs["mail"]; len(v) > 0 {
			a.Mail = v[0]
		}
		skip := func(reason string) {
			a.Status, a.Error = importSkipped, reason
			skipped = append(skipped, a)
		}
		if err := backend.ValidateName(a.Name); err != nil {
			skip(userMessage(err))
			continue
		}
		if first, dup := seen[a.Name]; dup {
			skip(fmt.Sprintf("account %s appears again (first on line %d)", a.Name, first))
			continue
		}
		seen[a.Name] = e.line
		if v := e.attrs["entryuuid"]; len(v) > 0 {
			u, err := backend.ParseUUID(strings.TrimSpace(v[0]))
			if err != nil || u.IsZero() {
				skip(fmt.Sprintf("%s: entryUUID %q is not a UUID", a.Name, v[0]))
				continue
			}
			if first, dup := seenUUID[u]; dup {
				skip(fmt.Sprintf("%s: entryUUID %s appears again (first on line %d)", a.Name, u, first))
				continue
			}
			seenUUID[u] = e.line
			a.uuid, a.UUID = u, u.String()
		}
		// A directory may hold several values; the first wicket can verify
		// is the one kept.
		var firstErr error
		for _, h := range e.attrs["userpassword"] {
			err := backend.ValidatePasswordHash(h)
			if err == nil {
				a.hash = h
				break
			}
			if firstErr == nil {
				firstErr = err
			}
		}
		if a.hash == "" && firstErr != nil {
			skip(a.Name + ": " + userMessage(firstErr))
			continue
		}
		if end := strings.IndexByte(a.hash, '}'); strings.HasPrefix(a.hash, "{") && end > 0 {
			a.Scheme = strings.ToUpper(a.hash[:end+1])
		} else if a.hash != "" {
			a.Scheme = "argon2id"
		}
		accounts = append(accounts, a)
	}
	return accounts, skipped
}

func newUserImportCmd(g *globals) *cobra.Command {
	var role string
	var dryRun, skipInvalid, allowSkipped bool
	cmd := &cobra.Command{
		Use:   "import FILE",
		Short: "Create accounts from an LDIF export, keeping their password hashes",
		Long: `Create accounts from an LDIF file as slapcat or 'ldapsearch -LLL' write it
('-' reads standard input). Each entry with a uid (as an attribute or in its
DN) becomes an account with its mail address and its userPassword hash, which
stays valid: users sign in with their old password, and the first successful
bind stores it as argon2id. An entryUUID (slapcat writes it; ldapsearch with
'+') is kept, so that clients that know users by it (Nextcloud, SSSD) see
the same users after the move. Entries without a uid are ignored, and so are
accounts that already exist, so an import can be run again.

The whole file is checked first: a bad name, a uid given twice or an unusable
hash imports nothing. With --skip-invalid such entries are skipped instead,
each reported with its line, DN and reason, and the others imported. An entry
the database refuses (a mail address already in use) is refused alone, its
account not created at all. The exit status is non-zero when an entry was
skipped or refused, unless --allow-skipped. An entry without userPassword
becomes an account that cannot bind until 'wicket user passwd' sets a password.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			role = strings.ToLower(role)
			switch role {
			case backend.RoleUser, backend.RoleService, backend.RoleAdmin:
			default:
				return fmt.Errorf("role %q is not one of user, service, admin", role)
			}
			in := cmd.InOrStdin()
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				in = f
			}
			entries, err := parseLDIF(in)
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			accounts, skipped := planImport(entries)
			if len(skipped) > 0 && !skipInvalid {
				// A file wrong throughout (an export with the wrong hash
				// scheme) would otherwise print every one of its entries.
				var problems []string
				for _, a := range skipped[:min(len(skipped), maxImportProblems)] {
					problems = append(problems, fmt.Sprintf("line %d: %s", a.Line, a.Error))
				}
				if n := len(skipped) - len(problems); n > 0 {
					problems = append(problems, fmt.Sprintf("... and %s (--skip-invalid --dry-run lists each)",
						plural(n, "more entry", "more entries")))
				}
				return &userError{msg: fmt.Sprintf("%s: nothing imported, %s (or skip them with --skip-invalid):\n  %s", args[0],
					plural(len(skipped), "entry needs fixing", "entries need fixing"), strings.Join(problems, "\n  "))}
			}
			if len(accounts)+len(skipped) == 0 {
				return &userError{msg: args[0] + ": no entry with a uid, so no account to import"}
			}

			e, err := g.open(nil)
			if err != nil {
				return err
			}
			defer e.Close()
			ctx := cmd.Context()
			if dryRun {
				for i := range accounts {
					a := &accounts[i]
					exists, err := e.svc.AccountExists(ctx, a.Name)
					if err != nil {
						return err
					}
					a.Status = importWouldCreate
					if exists {
						a.Status = importExists
					}
				}
			} else if len(accounts) > 0 {
				users := make([]backend.ImportUser, len(accounts))
				for i, a := range accounts {
					users[i] = backend.ImportUser{Name: a.Name, Mail: a.Mail, Hash: a.hash, UUID: a.uuid}
				}
				results, err := e.svc.ImportUsers(ctx, users, role)
				if results == nil {
					return err
				}
				for i, r := range results {
					a := &accounts[i]
					switch {
					case r.Exists:
						a.Status = importExists
					case r.Created:
						a.Status = importCreated
					case errors.Is(r.Err, backend.ErrUUIDTaken):
						a.Status, a.Error = importFailed, a.Name+": entryUUID "+a.UUID+" is already another account's"
					case errors.Is(r.Err, backend.ErrExists):
						a.Status, a.Error = importFailed, a.Name+": mail address "+a.Mail+" is already in use"
					case r.Err != nil:
						a.Status, a.Error = importFailed, a.Name+": "+userMessage(r.Err)
					default:
						a.Status = "not attempted"
					}
				}
				if err != nil {
					// What was created stays: say what it was.
					if perr := printImport(cmd.OutOrStdout(), g.json, dryRun, accounts, skipped); perr != nil {
						return perr
					}
					return fmt.Errorf("import stopped: %w", err)
				}
			}
			var failed []importAccount
			for _, a := range accounts {
				if a.Status == importFailed {
					failed = append(failed, a)
				}
			}
			w := cmd.ErrOrStderr()
			for _, l := range []struct {
				list      []importAccount
				one, many string
			}{{skipped, "entry skipped", "entries skipped"}, {failed, "account not imported", "accounts not imported"}} {
				if len(l.list) == 0 {
					continue
				}
				fmt.Fprintf(w, "%s:\n", plural(len(l.list), l.one, l.many))
				for _, a := range l.list {
					fmt.Fprintf(w, "  %s: %s\n", a.where(), a.Error)
				}
			}
			if err := printImport(cmd.OutOrStdout(), g.json, dryRun, accounts, skipped); err != nil {
				return err
			}
			if n := len(skipped) + len(failed); n > 0 && !allowSkipped {
				what := plural(n, "account", "accounts")
				if len(skipped) > 0 {
					what = plural(n, "entry", "entries")
				}
				return &userError{msg: fmt.Sprintf("%s of %d not imported", what, len(accounts)+len(skipped))}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&role, "role", backend.RoleUser, "role of every imported account: user, service or admin")
	f.BoolVar(&dryRun, "dry-run", false, "check the file and show what would be created, changing nothing")
	f.BoolVar(&skipInvalid, "skip-invalid", false, "skip the entries that cannot be imported (bad name, uid given twice, unusable hash), reporting each, and import the others")
	f.BoolVar(&allowSkipped, "allow-skipped", false, "exit 0 even when entries were skipped or refused (each is still reported)")
	return cmd
}

// maxImportProblems is how many entries that need fixing an import names
// before it stops.
const maxImportProblems = 20

func printImport(w io.Writer, asJSON, dryRun bool, accounts, skipped []importAccount) error {
	if asJSON {
		return printJSON(w, append(append([]importAccount{}, accounts...), skipped...))
	}
	counts := map[string]int{}
	tw := newTable(w)
	for _, a := range accounts {
		counts[a.Status]++
		if a.Status == importFailed {
			continue
		}
		how := a.Scheme
		if how == "" {
			how = "no password: cannot bind until 'wicket user passwd " + a.Name + "'"
		}
		if a.Status == importExists {
			how = "already exists, left as it is"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", a.Status, a.Name, how)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	more := ""
	if len(skipped) > 0 {
		more = fmt.Sprintf(", %d skipped", len(skipped))
	}
	if dryRun {
		fmt.Fprintf(w, "dry run: %s would be created, %d already exist%s\n",
			plural(counts[importWouldCreate], "account", "accounts"), counts[importExists], more)
		return nil
	}
	fmt.Fprintf(w, "%s created, %d already existed%s\n", plural(counts[importCreated], "account", "accounts"), counts[importExists], more)
	return nil
}
