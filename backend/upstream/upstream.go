// Package upstream checks primary passwords against an enterprise directory
// (OpenLDAP, Active Directory, 389-ds, FreeIPA) with go-ldap, for accounts
// whose second factor and app passwords live in wicket
// (backend.PrimaryVerifier).
//
// It never hurts the upstream account: a user's password is sent only after
// the user's entry has been read with the service identity and nothing
// wicket knows already refuses it (a disabled or locked user, failures at
// the cut-off below the upstream's lockout threshold, the same wrong
// password seen a moment ago). Referrals are never chased.
package upstream

import (
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	ber "github.com/go-asn1-ber/asn1-ber"
	"github.com/go-ldap/ldap/v3"

	"github.com/wicketldap/wicket/backend"
)

// Login is the placeholder of DNTemplate and UserFilter that the name a
// user signs in with replaces (escaped for a DN or a filter); UserDN that
// of GroupFilter, which the user's DN replaces.
const (
	Login  = "{login}"
	UserDN = "{dn}"
)

// DefaultGroupFilter finds the groupOfNames a user is a member of.
const DefaultGroupFilter = "(&(objectClass=groupOfNames)(member={dn}))"

// Config is the [upstream] section, with defaults applied by New.
type Config struct {
	// URL is ldap://host[:port] or ldaps://host[:port].
	URL string
	// StartTLS upgrades an ldap:// connection before anything is sent.
	StartTLS bool
	// CAFile holds the CA certificates (PEM) the upstream's certificate
	// is checked against; empty means the system's.
	CAFile string
	// BindDN and BindPassword are the service identity that searches;
	// an empty BindDN searches anonymously.
	BindDN, BindPassword string
	// DNTemplate, when set, is the user's DN with Login in it
	// ("uid={login},ou=people,dc=example,dc=org"); otherwise the user is
	// found by a search of Base with UserFilter.
	DNTemplate string
	Base       string
	UserFilter string
	// The attributes of the account name, the mail address, further
	// addresses (proxyAddresses' "smtp:" prefixes are dropped) and the
	// groups (DNs; the group's name is the value of their first RDN).
	UIDAttribute, MailAttribute, AliasAttribute, GroupAttribute string
	// GroupBase and GroupFilter find the groups of a user by search when
	// the entries have no GroupAttribute (OpenLDAP without the memberof
	// overlay): UserDN in GroupFilter is the user's DN, and the group's
	// name is its cn.
	GroupBase, GroupFilter string
	// ChangedAttributes are the password-change markers, the first the
	// entry has being the one followed.
	ChangedAttributes []string
	DialTimeout       time.Duration
	// Timeout bounds each operation, and the wait for a connection.
	Timeout  time.Duration
	PoolSize int
	// MaxFailures is the cut-off: once a user has this many failed
	// password checks within FailureWindow (counted here, or read from the
	// upstream's pwdFailureTime or badPwdCount), no password is sent
	// upstream for the user until the window has passed or a check
	// succeeds elsewhere.
	MaxFailures   int
	FailureWindow time.Duration
	// NegativeCacheTTL is how long a wrong password is answered from
	// memory; 0 turns the cache off.
	NegativeCacheTTL time.Duration
	Logger           *slog.Logger
	Now              func() time.Time
}

// Defaults of Config: MaxFailures stays below every usual lockout threshold
// (ppolicy's pwdMaxFailure is commonly 5; Active Directory's Default Domain
// Policy sets none, Microsoft's security baseline 10, CIS 5 or fewer);
// FailureWindow covers AD's "reset account lockout counter after" (15 min
// in both baselines).
const (
	DefaultUserFilter       = "(|(uid={login})(mail={login}))"
	DefaultMaxFailures      = 3
	DefaultFailureWindow    = 30 * time.Minute
	DefaultNegativeCacheTTL = 2 * time.Minute
	DefaultPoolSize         = 4
	DefaultDialTimeout      = 5 * time.Second
	DefaultTimeout          = 10 * time.Second
)

// DefaultChangedAttributes: Active Directory's, then the password policy
// overlay's (OpenLDAP, 389-ds).
var DefaultChangedAttributes = []string{"pwdLastSet", "pwdChangedTime"}

func (c *Config) withDefaults() {
	if c.UserFilter == "" {
		c.UserFilter = DefaultUserFilter
	}
	if c.UIDAttribute == "" {
		c.UIDAttribute = "uid"
	}
	if c.MailAttribute == "" {
		c.MailAttribute = "mail"
	}
	if c.GroupFilter == "" {
		c.GroupFilter = DefaultGroupFilter
	}
	if len(c.ChangedAttributes) == 0 {
		c.ChangedAttributes = DefaultChangedAttributes
	}
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.PoolSize <= 0 {
		c.PoolSize = DefaultPoolSize
	}
	if c.MaxFailures <= 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.FailureWindow <= 0 {
		c.FailureWindow = DefaultFailureWindow
	}
	if c.NegativeCacheTTL < 0 {
		c.NegativeCacheTTL = 0
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Directory is an upstream directory (backend.UpstreamDirectory).
type Directory struct {
	cfg   Config
	pool  *pool
	attrs []string
	log   *slog.Logger

	// key is drawn per process: what the negative cache keys on dies with
	// it, and nothing of it is ever written.
	key   [32]byte
	neg   *expiring
	fails *failures

	counts [numOutcomes]atomic.Uint64
}

var _ backend.UpstreamDirectory = (*Directory)(nil)

// New checks cfg and returns a Directory. It does not connect: the first
// check does, so that a server starts while its upstream is down.
func New(cfg Config) (*Directory, error) {
	cfg.withDefaults()
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
		return nil, fmt.Errorf("upstream url %q: want ldap://host[:port] or ldaps://host[:port]", cfg.URL)
	}
	var tc *tls.Config
	if u.Scheme == "ldaps" || cfg.StartTLS {
		tc = &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("upstream ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("upstream ca_file %s: no PEM certificate in it", cfg.CAFile)
			}
		}
	}
	d := &Directory{cfg: cfg, log: cfg.Logger, neg: newExpiring(maxNegative), fails: newFailures()}
	d.pool = newPool(&d.cfg, tc, cfg.Logger)
	rand.Read(d.key[:])
	d.attrs = []string{cfg.UIDAttribute, cfg.MailAttribute, "givenName", "sn", "displayName",
		"userAccountControl", "nsAccountLock", "pwdAccountLockedTime", "pwdFailureTime", "badPwdCount", "badPasswordTime"}
	for _, a := range []string{cfg.AliasAttribute, cfg.GroupAttribute} {
		if a != "" {
			d.attrs = append(d.attrs, a)
		}
	}
	d.attrs = append(d.attrs, cfg.ChangedAttributes...)
	return d, nil
}

// Close closes the idle connections.
func (d *Directory) Close() { d.pool.close() }

// Outcomes of the checks, for UpstreamStats.
const (
	outcomeSuccess = iota
	outcomeRefused
	outcomeNotAsked
	outcomeCached
	outcomeUnavailable
	numOutcomes
)

// UpstreamStats implements backend.UpstreamStatser.
func (d *Directory) UpstreamStats() backend.UpstreamStats {
	st := backend.UpstreamStats{
		Success: d.counts[outcomeSuccess].Load(), Refused: d.counts[outcomeRefused].Load(),
		NotAsked: d.counts[outcomeNotAsked].Load(), Cached: d.counts[outcomeCached].Load(),
		Unavailable: d.counts[outcomeUnavailable].Load(),
	}
	st.Up, st.Outages = d.pool.br.state()
	return st
}

// VerifyPrimary implements backend.PrimaryVerifier.
func (d *Directory) VerifyPrimary(ctx context.Context, login, password string) (_ *backend.UpstreamUser, err error) {
	outcome := outcomeNotAsked
	defer func() {
		if errors.Is(err, backend.ErrUnavailable) {
			outcome = outcomeUnavailable
		}
		d.counts[outcome].Add(1)
	}()
	if password == "" || login == "" {
		return nil, fail(backend.FailWrongPassword, "empty password")
	}
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	u, e, err := d.find(c, login)
	if err != nil && c.reused && isDown(err) {
		if c, err = d.pool.redial(c); err != nil {
			return nil, err
		}
		u, e, err = d.find(c, login)
	}
	if err != nil {
		d.pool.put(c, err)
		if isDown(err) {
			return nil, unavailable(err)
		}
		return nil, err
	}
	if u == nil {
		d.pool.put(c, nil)
		return nil, fail(backend.FailUnknownAccount, "unknown upstream")
	}
	if u.Disabled != "" {
		d.pool.put(c, nil)
		return nil, fail(backend.FailAccountDisabled, "disabled upstream: "+u.Disabled)
	}
	now := d.cfg.Now()
	// Counted per password: a password set anew upstream (a reset by the
	// helpdesk) starts the user's count here again, while the directory's
	// own count, where readable, still holds what it holds.
	nk := d.negKey(u, password)
	if d.neg.has(nk, now) {
		d.pool.put(c, nil)
		outcome = outcomeCached
		return nil, fail(backend.FailWrongPassword, "wrong password (the same one refused upstream a moment ago)")
	}
	// Counted per password: a password set anew upstream (a reset by the
	// helpdesk) starts the user's count here again, while the directory's
	// own count, where readable, still holds what it holds. A bind in
	// flight holds its place in the count, so that parallel guesses
	// cannot all pass on one count.
	fk := u.DN + "\x00" + u.Changed
	if n, ok := d.fails.reserve(fk, now, d.cfg.FailureWindow, d.upstreamFailures(e, now), d.cfg.MaxFailures); !ok {
		d.pool.put(c, nil)
		return nil, fail(backend.FailLocked, fmt.Sprintf("%d failed upstream password checks within %s: cut off "+
			"below the upstream's lockout", n, d.cfg.FailureWindow))
	}
	res, berr := c.SimpleBind(&ldap.SimpleBindRequest{Username: u.DN, Password: password,
		Controls: []ldap.Control{ldap.NewControlBeheraPasswordPolicy()}})
	c.service = false
	if berr != nil && isDown(berr) {
		// Whether the bind reached the directory is unknown: counted.
		d.fails.done(fk, d.cfg.Now(), true, false)
		d.pool.put(c, berr)
		return nil, unavailable(berr)
	}
	d.pool.put(c, nil)
	category, reason, counts := classify(res, berr)
	d.fails.done(fk, d.cfg.Now(), counts, category == "")
	if category == "" {
		outcome = outcomeSuccess
		return u, nil
	}
	outcome = outcomeRefused
	if counts && category == backend.FailWrongPassword && d.cfg.NegativeCacheTTL > 0 {
		d.neg.put(nk, now, now.Add(d.cfg.NegativeCacheTTL))
	}
	return nil, fail(category, reason)
}

func fail(category, reason string) error {
	return &backend.AuthFailure{Category: category, Reason: reason}
}

// negKey is a keyed hash, under the process's key, of the user, the
// user's password-change marker (a new password upstream makes every entry
// of the old one miss) and the password.
func (d *Directory) negKey(u *backend.UpstreamUser, password string) [32]byte {
	m := hmac.New(sha256.New, d.key[:])
	for _, s := range []string{u.DN, u.Changed, password} {
		m.Write([]byte(strconv.Itoa(len(s))))
		m.Write([]byte{':'})
		m.Write([]byte(s))
	}
	var k [32]byte
	m.Sum(k[:0])
	return k
}

// adData reads Active Directory's reason from a bind's diagnostic message
// ("80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext
// error, data 52e, v4563").
var adData = regexp.MustCompile(`\bdata ([0-9a-fA-F]{3,8})\b`)

// classify maps a refused bind to an audit category; "" is success.
// counts says whether the upstream counted it as a failure (a wrong
// password), which the cut-off then counts too.
func classify(res *ldap.SimpleBindResult, err error) (category, reason string, counts bool) {
	var pp *ldap.ControlBeheraPasswordPolicy
	if res != nil {
		if c, ok := ldap.FindControl(res.Controls, ldap.ControlTypeBeheraPasswordPolicy).(*ldap.ControlBeheraPasswordPolicy); ok && c.Error >= 0 {
			pp = c
		}
	}
	if err == nil {
		if pp != nil && pp.Error == 2 {
			return backend.FailPasswordMustChange, "the upstream asks for a new password (password policy: changeAfterReset)", false
		}
		return "", "", false
	}
	var le *ldap.Error
	if !errors.As(err, &le) || le.ResultCode != ldap.LDAPResultInvalidCredentials {
		code := -1
		if le != nil {
			code = int(le.ResultCode)
		}
		// Not an answer about the password: counted all the same, so that
		// an upstream that refuses oddly is not asked without end.
		return backend.FailWrongPassword, fmt.Sprintf("upstream refused the bind (result %d)", code), true
	}
	if m := adData.FindStringSubmatch(le.Err.Error()); m != nil {
		switch strings.ToLower(m[1]) {
		case "52e":
			return backend.FailWrongPassword, "wrong password (upstream: data 52e)", true
		case "525":
			return backend.FailUnknownAccount, "unknown upstream (data 525)", false
		case "530":
			return backend.FailLogonRestricted, "not permitted to log on at this time (upstream: data 530)", false
		case "531":
			return backend.FailLogonRestricted, "not permitted to log on from this workstation (upstream: data 531)", false
		case "532":
			return backend.FailPasswordExpired, "password expired (upstream: data 532)", false
		case "533":
			return backend.FailAccountDisabled, "account disabled (upstream: data 533)", false
		case "701":
			return backend.FailAccountExpired, "account expired (upstream: data 701)", false
		case "773":
			return backend.FailPasswordMustChange, "the user must set a new password (upstream: data 773)", false
		case "775":
			return backend.FailUpstreamLocked, "account locked out (upstream: data 775)", false
		}
	}
	if pp != nil {
		switch pp.Error {
		case 0:
			return backend.FailPasswordExpired, "password expired (upstream password policy)", false
		case 1:
			return backend.FailUpstreamLocked, "account locked (upstream password policy)", false
		case 2:
			return backend.FailPasswordMustChange, "the user must set a new password (upstream password policy)", false
		}
	}
	return backend.FailWrongPassword, "wrong password (upstream)", true
}

// find reads the entry of the user login names, with the service identity.
// nil, nil: no such user (or more than one).
func (d *Directory) find(c *conn, login string) (*backend.UpstreamUser, *ldap.Entry, error) {
	if err := d.pool.asService(c); err != nil {
		return nil, nil, err
	}
	req := d.userSearch(login)
	res, err := c.Search(req)
	if ldap.IsErrorWithCode(err, ldap.LDAPResultNoSuchObject) {
		return nil, nil, nil
	}
	if ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		d.log.Warn("upstream: more than one entry matches a sign-in name; refused", "filter", req.Filter, "base", req.BaseDN)
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if len(res.Entries) != 1 {
		if len(res.Entries) > 1 {
			d.log.Warn("upstream: more than one entry matches a sign-in name; refused", "filter", req.Filter, "base", req.BaseDN)
		}
		return nil, nil, nil
	}
	e := res.Entries[0]
	u := d.user(e)
	if d.cfg.GroupBase != "" && d.cfg.GroupAttribute == "" {
		f := strings.ReplaceAll(d.cfg.GroupFilter, UserDN, ldap.EscapeFilter(e.DN))
		gres, err := c.SearchWithPaging(ldap.NewSearchRequest(d.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
			0, int(d.cfg.Timeout/time.Second), false, f, []string{"cn"}, nil), 500)
		if err != nil {
			return nil, nil, err
		}
		for _, g := range gres.Entries {
			if cn := g.GetEqualFoldAttributeValue("cn"); cn != "" {
				u.Groups = append(u.Groups, strings.ToLower(cn))
			}
		}
	}
	return u, e, nil
}

// groups reads every group under GroupBase and returns the names of the
// groups of each member, by normalized DN.
func (d *Directory) groups(c *conn) (map[string][]string, error) {
	f := strings.ReplaceAll(d.cfg.GroupFilter, UserDN, "*")
	res, err := c.SearchWithPaging(ldap.NewSearchRequest(d.cfg.GroupBase, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases,
		0, 0, false, f, []string{"cn", "member", "uniqueMember"}, nil), 500)
	if err != nil {
		return nil, d.sizeLimited("groups under "+d.cfg.GroupBase, err)
	}
	out := map[string][]string{}
	for _, g := range res.Entries {
		cn := strings.ToLower(g.GetEqualFoldAttributeValue("cn"))
		if cn == "" {
			continue
		}
		for _, m := range append(g.GetEqualFoldAttributeValues("member"), g.GetEqualFoldAttributeValues("uniqueMember")...) {
			k := normDN(m)
			out[k] = append(out[k], cn)
		}
	}
	return out, nil
}

// normDN is a DN in a form that compares equal for the same entry however
// it was written.
func normDN(s string) string {
	if dn, err := ldap.ParseDN(s); err == nil {
		return strings.ToLower(dn.String())
	}
	return strings.ToLower(s)
}

func (d *Directory) userSearch(login string) *ldap.SearchRequest {
	if d.cfg.DNTemplate != "" {
		dn := strings.ReplaceAll(d.cfg.DNTemplate, Login, ldap.EscapeDN(login))
		return ldap.NewSearchRequest(dn, ldap.ScopeBaseObject, ldap.NeverDerefAliases, 2,
			int(d.cfg.Timeout/time.Second), false, "(objectClass=*)", d.attrs, nil)
	}
	f := strings.ReplaceAll(d.cfg.UserFilter, Login, ldap.EscapeFilter(login))
	return ldap.NewSearchRequest(d.cfg.Base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2,
		int(d.cfg.Timeout/time.Second), false, f, d.attrs, nil)
}

// Users implements backend.UpstreamDirectory: a paged search of Base with
// UserFilter, its placeholder matching every value.
func (d *Directory) Users(ctx context.Context) ([]backend.UpstreamUser, error) {
	if d.cfg.Base == "" {
		return nil, errors.New("upstream: listing users needs [upstream] base")
	}
	c, err := d.pool.get(ctx)
	if err != nil {
		return nil, err
	}
	users, err := d.users(c)
	if err != nil && c.reused && isDown(err) {
		if c, err = d.pool.redial(c); err != nil {
			return nil, err
		}
		users, err = d.users(c)
	}
	if err != nil {
		d.pool.put(c, err)
		if isDown(err) {
			return nil, unavailable(err)
		}
		return nil, fmt.Errorf("upstream search: %w", err)
	}
	d.pool.put(c, nil)
	return users, nil
}

func (d *Directory) users(c *conn) ([]backend.UpstreamUser, error) {
	if err := d.pool.asService(c); err != nil {
		return nil, err
	}
	f := strings.ReplaceAll(d.cfg.UserFilter, Login, "*")
	req := ldap.NewSearchRequest(d.cfg.Base, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 0,
		0, false, f, d.attrs, nil)
	res, err := c.SearchWithPaging(req, 500)
	if err != nil {
		return nil, d.sizeLimited("users under "+d.cfg.Base, err)
	}
	var groups map[string][]string
	if d.cfg.GroupBase != "" && d.cfg.GroupAttribute == "" {
		if groups, err = d.groups(c); err != nil {
			return nil, err
		}
	}
	out := make([]backend.UpstreamUser, 0, len(res.Entries))
	for _, e := range res.Entries {
		u := d.user(e)
		if groups != nil {
			u.Groups = groups[normDN(e.DN)]
		}
		out = append(out, *u)
	}
	return out, nil
}

// sizeLimited explains a listing the directory ended at its size limit, as
// OpenLDAP does at 500 entries unless told otherwise, paged or not: a
// listing must be whole, or a user missing from it would be taken for
// one deleted, so nothing is applied and the administrator is told what
// to change. Other errors pass as they are.
func (d *Directory) sizeLimited(what string, err error) error {
	if !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return err
	}
	who := cmp.Or(d.cfg.BindDN, "anonymous")
	return fmt.Errorf("the directory stopped the search of %s at its size limit (%w); nothing was applied. "+
		"Let %s search without one: on OpenLDAP, olcLimits: dn.exact=%q size=unlimited in the database's "+
		"cn=config entry; on 389-ds, nsSizeLimit: -1 in that entry; on Active Directory, paging is enough", what, err, who, who)
}

// user maps an entry.
func (d *Directory) user(e *ldap.Entry) *backend.UpstreamUser {
	u := &backend.UpstreamUser{
		DN:          e.DN,
		Name:        strings.ToLower(e.GetEqualFoldAttributeValue(d.cfg.UIDAttribute)),
		Mail:        e.GetEqualFoldAttributeValue(d.cfg.MailAttribute),
		GivenName:   e.GetEqualFoldAttributeValue("givenName"),
		Surname:     e.GetEqualFoldAttributeValue("sn"),
		DisplayName: e.GetEqualFoldAttributeValue("displayName"),
		Disabled:    disabled(e),
	}
	if d.cfg.AliasAttribute != "" {
		for _, v := range e.GetEqualFoldAttributeValues(d.cfg.AliasAttribute) {
			// Active Directory's proxyAddresses: "SMTP:" is the primary
			// address, "smtp:" the others, other prefixes not mail.
			if i := strings.IndexByte(v, ':'); i > 0 && !strings.Contains(v[:i], "@") {
				if !strings.EqualFold(v[:i], "smtp") {
					continue
				}
				v = v[i+1:]
			}
			if !strings.EqualFold(v, u.Mail) {
				u.Aliases = append(u.Aliases, v)
			}
		}
	}
	if d.cfg.GroupAttribute != "" {
		for _, v := range e.GetEqualFoldAttributeValues(d.cfg.GroupAttribute) {
			if dn, err := ldap.ParseDN(v); err == nil && len(dn.RDNs) > 0 && len(dn.RDNs[0].Attributes) > 0 {
				u.Groups = append(u.Groups, strings.ToLower(dn.RDNs[0].Attributes[0].Value))
			} else if err != nil && !strings.Contains(v, "=") {
				u.Groups = append(u.Groups, strings.ToLower(v))
			}
		}
	}
	for _, a := range d.cfg.ChangedAttributes {
		if v := e.GetEqualFoldAttributeValue(a); v != "" {
			u.Changed = a + "=" + v
			break
		}
	}
	return u
}

// permanentLock is the pwdAccountLockedTime an administrator sets to lock
// an account until it is unlocked (slapo-ppolicy(5)).
const permanentLock = "000001010000Z"

// disabled says why the upstream refuses the user, "" when it does not.
func disabled(e *ldap.Entry) string {
	if v := e.GetEqualFoldAttributeValue("userAccountControl"); v != "" {
		if n, err := strconv.ParseInt(v, 10, 64); err == nil && n&0x2 != 0 {
			return "userAccountControl ACCOUNTDISABLE"
		}
	}
	if strings.EqualFold(e.GetEqualFoldAttributeValue("nsAccountLock"), "true") {
		return "nsAccountLock"
	}
	if v := e.GetEqualFoldAttributeValue("pwdAccountLockedTime"); v != "" {
		if v == permanentLock {
			return "pwdAccountLockedTime (locked by an administrator)"
		}
		return "pwdAccountLockedTime (locked by the password policy)"
	}
	return ""
}

// upstreamFailures is the user's failed binds within the window as the
// upstream itself counts them, where the service identity may read them:
// the password policy's pwdFailureTime values, or Active Directory's
// badPwdCount while its badPasswordTime is within the window (AD resets
// the count only on the next bind after its own window).
func (d *Directory) upstreamFailures(e *ldap.Entry, now time.Time) int {
	since := now.Add(-d.cfg.FailureWindow)
	n := 0
	for _, v := range e.GetEqualFoldAttributeValues("pwdFailureTime") {
		if t, err := ber.ParseGeneralizedTime([]byte(v)); err == nil && t.After(since) {
			n++
		}
	}
	if v := e.GetEqualFoldAttributeValue("badPwdCount"); v != "" {
		bad, err1 := strconv.Atoi(v)
		at, err2 := strconv.ParseInt(e.GetEqualFoldAttributeValue("badPasswordTime"), 10, 64)
		if err1 == nil && err2 == nil && fileTime(at).After(since) {
			n = max(n, bad)
		}
	}
	return n
}

// fileTime converts Windows' FILETIME (100 ns since 1601) to a time.
func fileTime(v int64) time.Time {
	const epochDiff = 116444736000000000 // 1601 to 1970 in 100 ns
	if v <= epochDiff {
		return time.Time{}
	}
	return time.Unix(0, (v-epochDiff)*100)
}

// maxNegative bounds the negative cache, and maxFailureEntries the counts
// of failures: beyond them the oldest are dropped. A flood of names or
// passwords costs memory up to these and no more.
const (
	maxNegative       = 1 << 16
	maxFailureEntries = 1 << 16
)

// expiring is a bounded set of keys with their expiry.
type expiring struct {
	mu  sync.Mutex
	max int
	m   map[[32]byte]time.Time
}

func newExpiring(n int) *expiring { return &expiring{max: n, m: make(map[[32]byte]time.Time)} }

func (x *expiring) has(k [32]byte, now time.Time) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	t, ok := x.m[k]
	if ok && !now.Before(t) {
		delete(x.m, k)
		return false
	}
	return ok
}

func (x *expiring) put(k [32]byte, now, until time.Time) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if len(x.m) >= x.max {
		// Expired first; if that is not enough, any: a lost entry only
		// costs one more question upstream, which the cut-off still bounds.
		for k, t := range x.m {
			if t.Before(now) {
				delete(x.m, k)
			}
		}
		for k := range x.m {
			if len(x.m) < x.max/2 {
				break
			}
			delete(x.m, k)
		}
	}
	x.m[k] = until
}

// failures counts the failed upstream password checks of each user DN and
// password-change marker within the window, and the checks in flight.
type failures struct {
	mu sync.Mutex
	m  map[string]*failRec
}

type failRec struct {
	times    []time.Time
	inflight int
}

func newFailures() *failures { return &failures{m: make(map[string]*failRec)} }

// reserve takes a place for one check of k, unless the failures within
// the window (the larger of those counted here and upstream, the ones
// in flight added) have reached limit; n is that count.
func (f *failures) reserve(k string, now time.Time, window time.Duration, upstream, limit int) (n int, ok bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.m[k]
	if r == nil {
		if len(f.m) >= maxFailureEntries {
			f.shrink()
		}
		r = &failRec{}
		f.m[k] = r
	}
	since := now.Add(-window)
	kept := r.times[:0]
	for _, t := range r.times {
		if t.After(since) {
			kept = append(kept, t)
		}
	}
	r.times = kept
	n = max(len(r.times), upstream) + r.inflight
	if n >= limit {
		f.forgetIdle(k, r)
		return n, false
	}
	r.inflight++
	return n, true
}

// done gives back a place reserve took: failed adds a failure, succeeded
// clears the count, as a successful bind clears the directory's.
func (f *failures) done(k string, now time.Time, failed, succeeded bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.m[k]
	if r == nil {
		// Dropped by shrink meanwhile.
		return
	}
	if r.inflight > 0 {
		r.inflight--
	}
	switch {
	case succeeded:
		r.times = nil
	case failed:
		r.times = append(r.times, now)
		// Only the cut-off's worth is needed; more would let one name grow
		// without bound.
		if len(r.times) > 64 {
			r.times = r.times[len(r.times)-64:]
		}
	}
	f.forgetIdle(k, r)
}

func (f *failures) forgetIdle(k string, r *failRec) {
	if r.inflight == 0 && len(r.times) == 0 {
		delete(f.m, k)
	}
}

// shrink drops half the records, those with checks in flight last: a
// record dropped only costs its user the count, which the directory's own,
// where readable, still bounds.
func (f *failures) shrink() {
	for k, r := range f.m {
		if len(f.m) < maxFailureEntries/2 {
			return
		}
		if r.inflight == 0 {
			delete(f.m, k)
		}
	}
	for k := range f.m {
		if len(f.m) < maxFailureEntries/2 {
			return
		}
		delete(f.m, k)
	}
}
