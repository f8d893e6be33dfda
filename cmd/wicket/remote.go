package main

import (
	"bufio"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"github.com/go-ldap/ldap/v3"
	"github.com/spf13/cobra"

	"github.com/wicketldap/wicket/backend"
	"github.com/wicketldap/wicket/exop"
)

// remoteFlags are what every 'wicket remote' command needs to sign in.
type remoteFlags struct {
	g            *globals
	uri          string
	caFile       string
	startTLS     bool
	bindName     string
	passwordFile string
	target       string
}

func newRemoteCmd(g *globals) *cobra.Command {
	r := &remoteFlags{g: g}
	cmd := &cobra.Command{
		Use:   "remote",
		Short: "Manage app passwords and passwords over LDAP, without a shell on the server",
		Long: `Talk to a running wicket over LDAP: users manage their own app passwords and
password; administrators manage anyone's with --user.

Sign in with -D (a DN, a username or a mail address) and your password
immediately followed by the current one-time code, typed at the prompt or
read from the first line of --password-file. A code works once only, so every
command needs a fresh one. A session signed in with an app password may list
app passwords, nothing more.

Without -H, the address is the server's own configuration (--config): ldaps://
on tls.listen_ldaps when set, else listen with StartTLS when tls.cert_file is
set, trusting that certificate file besides the system's CAs; without either,
` + defaultRemoteURI + `. With -H, --starttls upgrades an ldap:// connection
before the bind, and --ca-file FILE trusts the PEM certificates in FILE (a
private CA, or a self-signed server certificate itself) besides the system's.`,
	}
	pf := cmd.PersistentFlags()
	pf.StringVarP(&r.uri, "uri", "H", "", "wicket's address, ldap://host:port or ldaps://host:port (default: from --config, else "+defaultRemoteURI+")")
	pf.StringVar(&r.caFile, "ca-file", "", "trust the PEM certificates in FILE (a private CA, or the server's self-signed certificate)")
	pf.BoolVar(&r.startTLS, "starttls", false, "upgrade an ldap:// connection with StartTLS before signing in")
	pf.StringVarP(&r.bindName, "bind-name", "D", "", "who signs in: a DN, a username or a mail address (required)")
	pf.StringVar(&r.passwordFile, "password-file", "", "read the bind password from the first line of FILE instead of prompting")
	pf.StringVar(&r.target, "user", "", "act on this user's account instead of your own (administrators): a username, mail address or DN")
	cmd.AddCommand(newRemoteAppPWCmd(g, r), newRemotePasswdCmd(g, r))
	return cmd
}

// check validates the flags before anything is typed or sent, so that a
// mistake costs neither a prompt nor a one-time code.
func (r *remoteFlags) check() (remoteAddr, error) {
	if strings.TrimSpace(r.bindName) == "" {
		return remoteAddr{}, errors.New("-D is required: the account to sign in as (a DN, a username or a mail address); " +
			"an anonymous session cannot manage passwords")
	}
	var a remoteAddr
	var trust []string // each "flag or setting: file"
	if r.uri != "" {
		var err error
		if a, err = parseRemoteURI(r.uri); err != nil {
			return remoteAddr{}, err
		}
		if r.startTLS && a.tls {
			return remoteAddr{}, fmt.Errorf("--starttls: %s is TLS from the first byte already; give ldap://host:port with --starttls", r.uri)
		}
		a.startTLS = r.startTLS
	} else {
		cfg, err := r.g.load()
		if err != nil {
			return remoteAddr{}, err
		}
		if a, err = configAddr(cfg); err != nil {
			return remoteAddr{}, err
		}
		a.startTLS = !a.tls && (a.startTLS || r.startTLS)
		// On the server's host the configured certificate is the one the
		// server presents: a self-signed one is then trusted as it is.
		if cfg.TLS.CertFile != "" && r.caFile == "" && (a.tls || a.startTLS) {
			trust = append(trust, "tls.cert_file", cfg.TLS.CertFile)
		}
		r.uri = a.uri
	}
	if r.caFile != "" {
		trust = append(trust, "--ca-file", r.caFile)
	}
	for i := 0; i < len(trust); i += 2 {
		if a.roots == nil {
			if a.roots, _ = x509.SystemCertPool(); a.roots == nil {
				a.roots = x509.NewCertPool()
			}
		}
		if err := addRoots(a.roots, trust[i+1]); err != nil {
			return remoteAddr{}, fmt.Errorf("%s: %w", trust[i], err)
		}
	}
	return a, nil
}

// readSecretFile reads a password from the first line of path. Only the
// line ending is removed: spaces may belong to a password.
func readSecretFile(path, what string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	defer f.Close()
	return readSecretLine(f, path, what)
}

// readSecretLine reads a secret from the first line of r, which from names.
func readSecretLine(r io.Reader, from, what string) (string, error) {
	line, err := bufio.NewReader(io.LimitReader(r, maxPasswordLine)).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("reading the %s from %s: %w", what, from, err)
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", fmt.Errorf("%s: the first line is empty; it should hold the %s", from, what)
	}
	return pw, nil
}

// readSecretArg reads a secret that a flag names by where it is, so that
// it never appears in the process's arguments (which any user of the host
// can list): the first line of the file path, or of standard input when
// path is "-". A terminal on standard input is asked without echo.
func readSecretArg(cmd *cobra.Command, path, what string) (string, error) {
	if path != "-" {
		return readSecretFile(path, what)
	}
	in := cmd.InOrStdin()
	read := terminalFor(in)
	if read == nil {
		return readSecretLine(in, "standard input", what)
	}
	pw, err := read(cmd.ErrOrStderr(), strings.ToUpper(what[:1])+what[1:]+": ")
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if pw == "" {
		return "", fmt.Errorf("no %s typed", what)
	}
	return pw, nil
}

// readSecret takes a password from file when one is named, else from a
// prompt at the terminal without echo. It never reads a pipe instead, so a
// script that forgot the flag fails rather than hangs or sends garbage.
func readSecret(cmd *cobra.Command, file, flag, what, prompt string) (string, error) {
	if file != "" {
		return readSecretFile(file, what)
	}
	read := terminalFor(cmd.InOrStdin())
	if read == nil {
		return "", fmt.Errorf("standard input is not a terminal: give the %s on the first line of a file with %s FILE", what, flag)
	}
	pw, err := read(cmd.ErrOrStderr(), prompt)
	if err != nil {
		return "", fmt.Errorf("reading the %s: %w", what, err)
	}
	if pw == "" {
		return "", fmt.Errorf("no %s typed; nothing was sent", what)
	}
	return pw, nil
}

func (r *remoteFlags) bindPassword(cmd *cobra.Command) (string, error) {
	return readSecret(cmd, r.passwordFile, "--password-file", "bind password",
		fmt.Sprintf("Password for %s, followed by the current one-time code: ", r.bindName))
}

// remoteSession is a connection signed in as -D.
type remoteSession struct {
	conn     *ldap.Conn
	uri      string
	bindName string
}

// signIn connects and binds. Everything that can be checked or typed is
// done before: a bind with password and code uses the code up.
func (r *remoteFlags) signIn(cmd *cobra.Command, a remoteAddr, password string) (*remoteSession, error) {
	if a.cleartext() {
		fmt.Fprintf(cmd.ErrOrStderr(), "wicket: warning: %s is not encrypted; the password crosses the network readable\n", r.uri)
	}
	conn, err := dialRemote(a)
	if err != nil {
		return nil, fmt.Errorf("cannot reach wicket at %s: %w", r.uri, err)
	}
	s := &remoteSession{conn: conn, uri: r.uri, bindName: r.bindName}
	if _, err := conn.SimpleBind(&ldap.SimpleBindRequest{Username: r.bindName, Password: password}); err != nil {
		conn.Close()
		return nil, bindError(r.uri, err)
	}
	return s, nil
}

// open is check, bindPassword and signIn, for the commands that need no
// other secret.
func (r *remoteFlags) open(cmd *cobra.Command) (*remoteSession, error) {
	a, err := r.check()
	if err != nil {
		return nil, err
	}
	pw, err := r.bindPassword(cmd)
	if err != nil {
		return nil, err
	}
	return r.signIn(cmd, a, pw)
}

func (s *remoteSession) close() {
	if s.conn.Unbind() != nil {
		s.conn.Close()
	}
}

// extended runs one of wicket's extended operations and returns the
// response value.
func (s *remoteSession) extended(oid string, value []byte) ([]byte, error) {
	res, err := s.conn.Extended(ldap.NewExtendedRequest(oid, requestValue(value)))
	if err != nil {
		return nil, remoteError(s.uri, err)
	}
	return responseValue(res), nil
}

func (s *remoteSession) badAnswer(what string, err error) error {
	return fmt.Errorf("the answer of %s to %s is not what wicket sends: %w", s.uri, what, err)
}

// account names the account a command acted on, for what it prints: the
// --user given, else the signed-in user as Who am I? names them.
func (s *remoteSession) account(target string) string {
	if target != "" {
		return target
	}
	res, err := s.conn.WhoAmI(nil)
	if err != nil {
		return s.bindName
	}
	dn := strings.TrimPrefix(res.AuthzID, "dn:")
	d, err := ldap.ParseDN(dn)
	if err != nil || len(d.RDNs) == 0 || len(d.RDNs[0].Attributes) != 1 ||
		!strings.EqualFold(d.RDNs[0].Attributes[0].Type, "uid") {
		return s.bindName
	}
	return d.RDNs[0].Attributes[0].Value
}

func (s *remoteSession) list(target string) ([]exop.AppPassword, error) {
	v, err := s.extended(exop.OIDAppPasswordList, exop.ListRequest{Target: target}.Encode())
	if err != nil {
		return nil, err
	}
	list, err := exop.DecodeList(v)
	if err != nil {
		return nil, s.badAnswer("app password list", err)
	}
	return list, nil
}

// remoteUserFlag is how a hint repeats --user.
func remoteUserFlag(target string) string {
	if target == "" {
		return ""
	}
	return " --user " + target
}

func newRemoteAppPWCmd(g *globals, r *remoteFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "apppw",
		Short: "Create, list and revoke app passwords over LDAP",
	}
	cmd.AddCommand(newRemoteAppPWCreateCmd(g, r), newRemoteAppPWListCmd(g, r),
		newRemoteAppPWRevokeCmd(g, r), newRemoteAppPWRevokeAllCmd(g, r))
	return cmd
}

func newRemoteAppPWCreateCmd(g *globals, r *remoteFlags) *cobra.Command {
	var label string
	cmd := &cobra.Command{
		Use:   "create --label LABEL",
		Short: "Create an app password and print it, once",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if strings.TrimSpace(label) == "" {
				return errors.New(`--label is required: what the password is for, e.g. "Thunderbird on laptop"`)
			}
			s, err := r.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			v, err := s.extended(exop.OIDAppPasswordCreate, exop.CreateRequest{Label: label, Target: r.target}.Encode())
			if err != nil {
				return err
			}
			ap, err := exop.DecodeCreateResponse(v)
			if err != nil {
				return s.badAnswer("app password create", err)
			}
			return printNewAppPassword(cmd.OutOrStdout(), g.json, s.account(r.target), ap, label,
				"wicket remote apppw revoke "+ap.ID+remoteUserFlag(r.target))
		},
	}
	cmd.Flags().StringVar(&label, "label", "", `what the password is for, e.g. "Thunderbird on laptop" (required)`)
	cmd.MarkFlagRequired("label")
	return cmd
}

func newRemoteAppPWListCmd(g *globals, r *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List active app passwords (an app-password session may too)",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := r.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			aps, err := s.list(r.target)
			if err != nil {
				return err
			}
			return printAppPasswords(cmd.OutOrStdout(), g.json, s.account(r.target), aps)
		},
	}
}

func newRemoteAppPWRevokeCmd(g *globals, r *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke one app password by its id",
		Long: `Revoke one app password by its id (see 'wicket remote apppw list'). A client
using it fails on its next bind.`,
		Args: nArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := strings.ToLower(strings.TrimSpace(args[0]))
			if id == "" {
				return fmt.Errorf("usage: %s", cmd.UseLine())
			}
			s, err := r.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			// The label is looked up only to say what was revoked; the
			// revocation itself decides whether the id exists.
			label := ""
			if !g.json {
				if aps, err := s.list(r.target); err == nil {
					for _, ap := range aps {
						if ap.ID == id {
							label = ap.Label
						}
					}
				}
			}
			if _, err := s.extended(exop.OIDAppPasswordRevoke, exop.RevokeRequest{ID: id, Target: r.target}.Encode()); err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			who := s.account(r.target)
			if g.json {
				return printJSON(out, struct {
					User    string `json:"user"`
					ID      string `json:"id"`
					Revoked bool   `json:"revoked"`
				}{who, id, true})
			}
			if label != "" {
				fmt.Fprintf(out, "revoked app password %s (%q) of %s\n", id, label, who)
			} else {
				fmt.Fprintf(out, "revoked app password %s of %s\n", id, who)
			}
			return nil
		},
	}
}

func newRemoteAppPWRevokeAllCmd(g *globals, r *remoteFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke-all",
		Short: "Revoke every app password of the account",
		Args:  nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := r.open(cmd)
			if err != nil {
				return err
			}
			defer s.close()
			v, err := s.extended(exop.OIDAppPasswordRevokeAll, exop.RevokeAllRequest{Target: r.target}.Encode())
			if err != nil {
				return err
			}
			res, err := exop.DecodeRevokeAllResponse(v)
			if err != nil {
				return s.badAnswer("app password revoke-all", err)
			}
			out := cmd.OutOrStdout()
			who := s.account(r.target)
			if g.json {
				return printJSON(out, struct {
					User    string `json:"user"`
					Revoked int    `json:"revoked"`
				}{who, res.Revoked})
			}
			fmt.Fprintf(out, "revoked %s of %s\n", plural(res.Revoked, "app password", "app passwords"), who)
			return nil
		},
	}
}

// revokedInDiagnostic reads the count from wicket's "password changed; 3
// app passwords revoked".
var revokedInDiagnostic = regexp.MustCompile(`\b(\d+) app passwords? revoked\b`)

func newRemotePasswdCmd(g *globals, r *remoteFlags) *cobra.Command {
	var newFile, oldFile string
	cmd := &cobra.Command{
		Use:   "passwd [--new-password-file FILE]",
		Short: "Change a password (RFC 3062); every app password of the account is revoked",
		Long: `Change your own password, or as an administrator another user's (--user).

The new password is the first line of --new-password-file; without it the
server generates one and this prints it, once. Your own password needs the
current one too, typed at a prompt or read from --old-password-file: the
password alone, without a code, since the code typed to sign in is used up.
Every app password of the account is revoked.`,
		Args: nArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := r.check()
			if err != nil {
				return err
			}
			newPW := ""
			if newFile != "" {
				if newPW, err = readSecretFile(newFile, "new password"); err != nil {
					return err
				}
				// The server would refuse it too, but only after the
				// bind had used up a one-time code.
				if err := backend.ValidatePassword(newPW); err != nil {
					return err
				}
			}
			bindPW, err := r.bindPassword(cmd)
			if err != nil {
				return err
			}
			self, oldPW := r.target == "", ""
			if self || oldFile != "" {
				oldPW, err = readSecret(cmd, oldFile, "--old-password-file", "current password",
					fmt.Sprintf("Current password for %s, without a code: ", r.bindName))
				if err != nil {
					return err
				}
			}
			s, err := r.signIn(cmd, a, bindPW)
			if err != nil {
				return err
			}
			defer s.close()
			// The server revokes every active app password with the change;
			// counted just before, as go-ldap keeps no success diagnostic.
			before, err := s.list(r.target)
			if err != nil {
				return err
			}
			res, err := s.conn.PasswordModify(ldap.NewPasswordModifyRequest(r.target, oldPW, newPW))
			if err != nil {
				if self && ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
					return &userError{err: err, msg: "invalidCredentials (49): the current password is not right " +
						"(give it alone, without a one-time code); nothing was changed"}
				}
				return remoteError(s.uri, err)
			}
			if newPW == "" && res.GeneratedPassword == "" {
				return fmt.Errorf("%s changed the password but sent no generated password: have an administrator set a new one", s.uri)
			}
			revoked := len(before)
			who := s.account(r.target)
			out := cmd.OutOrStdout()
			if g.json {
				return printJSON(out, struct {
					User      string `json:"user"`
					Revoked   int    `json:"revoked_app_passwords"`
					Generated string `json:"generated_password,omitempty"`
				}{User: who, Revoked: revoked, Generated: res.GeneratedPassword})
			}
			fmt.Fprintf(out, "password changed for %s; %s revoked\n", who, plural(revoked, "app password", "app passwords"))
			if res.GeneratedPassword != "" {
				fmt.Fprintf(out, "\nnew password for %s:\n\n    %s\n\n", who, res.GeneratedPassword)
				fmt.Fprintln(out, "It will not be shown again. Sign in with it followed by a one-time code.")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&newFile, "new-password-file", "", "read the new password from the first line of FILE (default: the server generates one)")
	f.StringVar(&oldFile, "old-password-file", "", "read your current password from the first line of FILE instead of prompting")
	return cmd
}
