package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
)

func newUserSetCmd(g *globals) *cobra.Command {
	var mail, givenName, surname, displayName string
	var uidNumber, gidNumber, homeDirectory, loginShell string
	var aliases []string
	var noAliases, noPosix bool
	cmd := &cobra.Command{
		Use:   "set NAME [flags]",
		Short: "Change an account's mail address, aliases, names or POSIX attributes",
		Long: `Change what the directory serves about an account. Only the flags given
change anything; an empty value ("") clears that attribute.

--alias, repeated, replaces the aliases with exactly the addresses given;
--no-aliases removes them all. An address belongs to one account only, as its
mail address or as an alias.

--uid-number, --gid-number, --home-directory and --login-shell give the
account the POSIX attributes that nslcd and SSSD read (the class
posixAccount): the first three are needed together, the shell is optional.
--no-posix removes them all. Numbers are 0 to 2147483647; paths are absolute,
in printable ASCII.`,
		Example: `  wicket user set alice --mail alice@example.org --display-name "Alice Liddell"
  wicket user set alice --alias al@example.org --alias postmaster@example.org
  wicket user set alice --uid-number 10001 --gid-number 100 --home-directory /home/alice --login-shell /bin/bash
  wicket user set alice --no-posix`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			fl := cmd.Flags()
			if noAliases && fl.Changed("alias") {
				return errors.New("give either --alias or --no-aliases, not both")
			}
			if noPosix {
				for _, f := range []string{"uid-number", "gid-number", "home-directory", "login-shell"} {
					if fl.Changed(f) {
						return fmt.Errorf("give either --no-posix or --%s, not both", f)
					}
				}
			}
			var ch backend.ProfileChange
			for _, f := range []struct {
				flag string
				dst  **string
				val  *string
			}{
				{"mail", &ch.Mail, &mail},
				{"given-name", &ch.GivenName, &givenName},
				{"surname", &ch.Surname, &surname},
				{"display-name", &ch.DisplayName, &displayName},
				{"uid-number", &ch.UIDNumber, &uidNumber},
				{"gid-number", &ch.GIDNumber, &gidNumber},
				{"home-directory", &ch.HomeDirectory, &homeDirectory},
				{"login-shell", &ch.LoginShell, &loginShell},
			} {
				if fl.Changed(f.flag) {
					*f.dst = f.val
				}
			}
			ch.NoPosix = noPosix
			switch {
			case noAliases:
				ch.Aliases = &[]string{}
			case fl.Changed("alias"):
				list := uniqueAddresses(aliases)
				ch.Aliases = &list
			}
			if ch == (backend.ProfileChange{}) {
				return fmt.Errorf("nothing to change: give at least one of --mail, --alias, --no-aliases, --given-name, --surname, "+
					"--display-name, --uid-number, --gid-number, --home-directory, --login-shell, --no-posix (usage: %s)", cmd.UseLine())
			}
			return g.withAccount(cmd, args[0], func(ctx context.Context, e *env, u *backend.UserInfo) error {
				first, err := prepareChange(ctx, e, u, &ch)
				if err != nil {
					return err
				}
				for _, c := range []*backend.ProfileChange{first, &ch} {
					if c == nil {
						continue
					}
					if err := e.svc.UpdateProfile(ctx, u.Name, *c); err != nil {
						return profileError(ctx, e, u, ch, err)
					}
				}
				after, err := e.svc.User(ctx, u.Name)
				if err != nil {
					return accountError(u.Name, err)
				}
				out := cmd.OutOrStdout()
				if g.json {
					return printJSON(out, after)
				}
				return printProfileChanges(out, u, after)
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&mail, "mail", "", "primary mail address (also accepted as a bind name)")
	f.StringArrayVar(&aliases, "alias", nil, "further address of the same mailbox; repeat for several (replaces all aliases)")
	f.BoolVar(&noAliases, "no-aliases", false, "remove every alias")
	f.StringVar(&givenName, "given-name", "", "given name (givenName)")
	f.StringVar(&surname, "surname", "", "surname (sn)")
	f.StringVar(&displayName, "display-name", "", "name shown by mail clients (displayName)")
	f.StringVar(&uidNumber, "uid-number", "", "POSIX user id (uidNumber), 0 to 2147483647")
	f.StringVar(&gidNumber, "gid-number", "", "POSIX primary group id (gidNumber), 0 to 2147483647")
	f.StringVar(&homeDirectory, "home-directory", "", "POSIX home directory (homeDirectory), an absolute path")
	f.StringVar(&loginShell, "login-shell", "", "POSIX login shell (loginShell), an absolute path; optional")
	f.BoolVar(&noPosix, "no-posix", false, "remove every POSIX attribute")
	return cmd
}

// uniqueAddresses trims the addresses and drops empty ones and repeats in any
// case, as UpdateProfile and the store would: the checks before the write
// then judge the list that is written.
func uniqueAddresses(in []string) []string {
	out := make([]string, 0, len(in))
	for _, a := range in {
		a = strings.TrimSpace(a)
		if a == "" || containsFold(out, a) {
			continue
		}
		out = append(out, a)
	}
	return out
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

// prepareChange refuses, before anything is written, the addresses the
// store would refuse: the store says only that some address is taken, not
// which or by whom, and UpdateProfile writes the mail address before the
// aliases, so a late refusal could leave half a change behind.
//
// It returns a change to apply before ch when the new mail address is one of
// the account's aliases: the store refuses a mail address that is also an
// alias of the account, so the alias has to go first. An alias promoted so
// stops being an alias even when --alias is not given.
func prepareChange(ctx context.Context, e *env, u *backend.UserInfo, ch *backend.ProfileChange) (*backend.ProfileChange, error) {
	mail := u.Mail
	var first *backend.ProfileChange
	if ch.Mail != nil {
		mail = strings.TrimSpace(*ch.Mail)
		if mail != "" && !strings.EqualFold(mail, u.Mail) && containsFold(u.Aliases, mail) {
			kept := make([]string, 0, len(u.Aliases))
			for _, a := range u.Aliases {
				if !strings.EqualFold(a, mail) {
					kept = append(kept, a)
				}
			}
			first = &backend.ProfileChange{Aliases: &kept}
		}
	}
	var addrs []string
	if ch.Mail != nil && mail != "" {
		addrs = append(addrs, mail)
	}
	if ch.Aliases != nil {
		for _, a := range *ch.Aliases {
			if mail != "" && strings.EqualFold(a, mail) {
				return nil, &userError{err: backend.ErrInvalidInput, msg: fmt.Sprintf(
					"%s is the mail address of %s; an alias must be another address", a, u.Name)}
			}
		}
		addrs = append(addrs, *ch.Aliases...)
	}
	if len(addrs) == 0 {
		return first, nil
	}
	for _, addr := range addrs {
		owner, err := e.svc.Resolve(ctx, addr)
		switch {
		case errors.Is(err, backend.ErrNotFound):
		case err != nil:
			return nil, err
		case owner != u.Name:
			return nil, takenError(addr, owner)
		}
	}
	return first, nil
}

func takenError(addr, owner string) error {
	msg := addr + " is already another account's address"
	if owner != "" {
		msg += " (" + owner + ")"
	}
	return &userError{err: backend.ErrExists, msg: msg}
}

// profileError words a failed UpdateProfile. The writes of one change
// (profile, then aliases, and before them a promoted alias's removal) are
// each all or nothing but not together, so when a later one fails the
// administrator is told what the earlier ones already changed.
func profileError(ctx context.Context, e *env, u *backend.UserInfo, ch backend.ProfileChange, err error) error {
	if errors.Is(err, backend.ErrExists) {
		// Taken since prepareChange looked, by whom is unknown.
		if ch.Aliases == nil && ch.Mail != nil {
			err = takenError(strings.TrimSpace(*ch.Mail), "")
		} else {
			err = &userError{err: err, msg: "one of the addresses given is already another account's address"}
		}
	} else {
		err = accountError(u.Name, err)
	}
	after, aerr := e.svc.User(ctx, u.Name)
	if aerr != nil || sameProfile(u, after) {
		return err
	}
	var b strings.Builder
	printProfileChanges(&b, u, after)
	return &userError{err: err, msg: userMessage(err) + "\nonly part of the change was made; " +
		strings.TrimRight(b.String(), "\n")}
}

type profileField struct {
	label       string
	before, now string
}

func profileFields(before, after *backend.UserInfo) []profileField {
	return append([]profileField{
		{"mail", before.Mail, after.Mail},
		{"aliases", strings.Join(before.Aliases, ", "), strings.Join(after.Aliases, ", ")},
		{"display name", before.DisplayName, after.DisplayName},
		{"given name", before.GivenName, after.GivenName},
		{"surname", before.Surname, after.Surname},
	}, posixFields(before.Posix, after.Posix)...)
}

// posixFields are the POSIX attributes of before and after, as the lines
// of a change.
func posixFields(before, after *backend.Posix) []profileField {
	show := func(p *backend.Posix) [4]string {
		if p == nil {
			return [4]string{}
		}
		return [4]string{strconv.FormatUint(uint64(p.UIDNumber), 10), strconv.FormatUint(uint64(p.GIDNumber), 10),
			p.HomeDirectory, p.LoginShell}
	}
	b, a := show(before), show(after)
	return []profileField{
		{"uid number", b[0], a[0]},
		{"gid number", b[1], a[1]},
		{"home directory", b[2], a[2]},
		{"login shell", b[3], a[3]},
	}
}

func sameProfile(before, after *backend.UserInfo) bool {
	for _, f := range profileFields(before, after) {
		if f.before != f.now {
			return false
		}
	}
	return true
}

// printProfileChanges lists the attributes that differ, each with its
// former value, so a mistaken change can be typed back.
func printProfileChanges(out io.Writer, before, after *backend.UserInfo) error {
	if sameProfile(before, after) {
		_, err := fmt.Fprintf(out, "nothing changed: %s already has these values\n", after.Name)
		return err
	}
	fmt.Fprintf(out, "changed %s:\n", after.Name)
	tw := newTable(out)
	for _, f := range profileFields(before, after) {
		if f.before != f.now {
			fmt.Fprintf(tw, "  %s:\t%s (was %s)\n", f.label, orDash(f.now), orDash(f.before))
		}
	}
	return tw.Flush()
}
