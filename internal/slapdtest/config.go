package slapdtest

import (
	"bytes"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/go-ldap/ldap/v3"
)

// adSchemaLDIF is a TEST-ONLY schema, never to be loaded into a real
// directory: the few attributes of an Active Directory user that a proxy in
// front of AD searches and checks, under a private arc of OIDs
// (1.3.6.1.4.1.55555.1) instead of Microsoft's, so that nothing here can
// be mistaken for AD's own definitions.
//
// Debian's slapd ships /etc/ldap/schema/msuser.ldif with Microsoft's OIDs,
// but its attributes have no matching rules (an equality filter on
// sAMAccountName matches nothing) and its user class needs AD's system
// attributes (nTSecurityDescriptor, objectCategory, instanceType); hence
// this small auxiliary class on inetOrgPerson instead.
//
//   - sAMAccountName: the pre-Windows 2000 logon name, case-insensitive.
//   - userPrincipalName: the logon name user@domain, case-insensitive.
//   - userAccountControl: an integer of flags; 0x2 (ACCOUNTDISABLE) marks
//     a disabled account and 0x200 (NORMAL_ACCOUNT) a user's. slapd
//     matches AD's bitwise filter, (userAccountControl:1.2.840.113556.1.4.803:=2),
//     with its integerBitAndMatch, which has the same OID.
//   - pwdLastSet: AD's FILETIME, 100-nanosecond intervals since 1601-01-01
//     UTC, of the last password change; 0 means the user must change it at
//     the next logon. slapd does not maintain it: tests set it (FileTime).
const adSchemaLDIF = `dn: cn=wickettestad,cn=schema,cn=config
objectClass: olcSchemaConfig
cn: wickettestad
olcAttributeTypes: ( 1.3.6.1.4.1.55555.1.1.1 NAME 'sAMAccountName'
  DESC 'test-only: AD pre-Windows 2000 logon name'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{256} SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.55555.1.1.2 NAME 'userPrincipalName'
  DESC 'test-only: AD logon name user@domain'
  EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.15{1024} SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.55555.1.1.3 NAME 'userAccountControl'
  DESC 'test-only: AD account flags, 0x2 disabled'
  EQUALITY integerMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcAttributeTypes: ( 1.3.6.1.4.1.55555.1.1.4 NAME 'pwdLastSet'
  DESC 'test-only: AD FILETIME (100 ns since 1601-01-01 UTC) of the last password change'
  EQUALITY integerMatch ORDERING integerOrderingMatch
  SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )
olcObjectClasses: ( 1.3.6.1.4.1.55555.1.2.1 NAME 'wicketTestADAccount'
  DESC 'test-only: an Active Directory-shaped account'
  SUP top AUXILIARY
  MAY ( sAMAccountName $ userPrincipalName $ userAccountControl $ pwdLastSet ) )
`

// adAccountClass is the auxiliary class of adSchemaLDIF.
const adAccountClass = "wicketTestADAccount"

// writeConfig builds slapd's cn=config with slapadd -n0, as Debian
// configures its own (cn=config, the mdb backend, schemas from
// /etc/ldap/schema), with the chosen options.
func (s *Slapd) writeConfig() error {
	var b strings.Builder
	fmt.Fprintf(&b, `dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: %[1]s/slapd.pid
olcArgsFile: %[1]s/slapd.args
olcLogLevel: none

dn: cn=module{0},cn=config
objectClass: olcModuleList
cn: module{0}
olcModulePath: %[2]s
olcModuleLoad: back_mdb
`, s.dir, modulePath)
	if s.opts.PPolicy {
		// On slapd 2.5 the overlay brings the ppolicy schema itself.
		b.WriteString("olcModuleLoad: ppolicy\n")
	}
	b.WriteString(`
dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

`)
	for _, sch := range []string{"core", "cosine", "inetorgperson"} {
		fmt.Fprintf(&b, "include: file://%s/%s.ldif\n\n", schemaDir, sch)
	}
	if s.opts.ADSchema {
		b.WriteString(adSchemaLDIF + "\n")
	}
	fmt.Fprintf(&b, `dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcSuffix: %[1]s
olcRootDN: %[2]s
olcRootPW: %[3]s
olcDbDirectory: %[4]s
olcDbMaxSize: 268435456
olcDbIndex: objectClass eq
olcDbIndex: uid eq
olcDbIndex: mail eq
`, s.BaseDN, s.AdminDN, SSHA(s.AdminPassword), filepath.Join(s.dir, "data"))
	if s.opts.ADSchema {
		b.WriteString("olcDbIndex: sAMAccountName eq\nolcDbIndex: userPrincipalName eq\n")
	}
	if s.opts.UnlimitedService {
		fmt.Fprintf(&b, "olcLimits: dn.exact=%q size=unlimited\n", s.ServiceDN)
	}
	// A password serves only to bind, and its owner may change it; the
	// service account reads everything else, users read their own entry.
	// The rootdn, and ppolicy's own writes of pwdFailureTime and
	// pwdAccountLockedTime, are not subject to ACLs.
	svc := s.ServiceDN
	if svc == "" {
		svc = "cn=wicket,ou=services," + s.BaseDN
	}
	fmt.Fprintf(&b, `olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none
olcAccess: {1}to * by dn.exact="%s" read by self read by * none
`, svc)
	if s.opts.PPolicy {
		fmt.Fprintf(&b, `
dn: olcOverlay={0}ppolicy,olcDatabase={1}mdb,cn=config
objectClass: olcOverlayConfig
objectClass: olcPPolicyConfig
olcOverlay: {0}ppolicy
olcPPolicyDefault: %s
`, s.PolicyDN)
	}
	return s.slapadd(b.String())
}

// baseEntries are the entries Start adds once slapd runs: the suffix,
// ou=people, ou=groups, and what the options ask for. Added online (one
// connection, a few milliseconds) rather than with a second slapadd, which
// costs a process start.
func (s *Slapd) baseEntries() ([]*ldap.AddRequest, error) {
	dn, err := ldap.ParseDN(s.BaseDN)
	if err != nil || len(dn.RDNs) == 0 || len(dn.RDNs[0].Attributes) != 1 ||
		!strings.EqualFold(dn.RDNs[0].Attributes[0].Type, "dc") {
		return nil, fmt.Errorf("base DN %q: want one whose first RDN is dc=NAME", s.BaseDN)
	}
	dc := dn.RDNs[0].Attributes[0].Value
	type attrs map[string][]string
	entry := func(dn string, as attrs) *ldap.AddRequest {
		a := ldap.NewAddRequest(dn, nil)
		for name, values := range as {
			a.Attribute(name, values)
		}
		return a
	}
	ou := func(name string) *ldap.AddRequest {
		return entry("ou="+name+","+s.BaseDN, attrs{"objectClass": {"organizationalUnit"}, "ou": {name}})
	}
	es := []*ldap.AddRequest{
		entry(s.BaseDN, attrs{"objectClass": {"dcObject", "organization"}, "dc": {dc}, "o": {dc}}),
		ou("people"),
		ou("groups"),
	}
	if s.opts.ServiceAccount {
		es = append(es, ou("services"), entry(s.ServiceDN, attrs{
			"objectClass":  {"organizationalRole", "simpleSecurityObject"},
			"cn":           {"wicket"},
			"description":  {"searches the directory and reads accounts, as a proxy's service account"},
			"userPassword": {SSHA(s.ServicePassword)},
		}))
	}
	if s.opts.PPolicy {
		es = append(es, ou("policies"), entry(s.PolicyDN, attrs{
			"objectClass":             {"device", "pwdPolicy"},
			"cn":                      {"default"},
			"pwdAttribute":            {"userPassword"},
			"pwdMaxFailure":           {strconv.Itoa(MaxFailure)},
			"pwdLockout":              {"TRUE"},
			"pwdFailureCountInterval": {strconv.Itoa(FailureCountInterval)},
			"pwdLockoutDuration":      {strconv.Itoa(LockoutDuration)},
		}))
	}
	return es, nil
}

// addBaseEntries adds baseEntries as the rootdn.
func (s *Slapd) addBaseEntries(es []*ldap.AddRequest) error {
	return s.asAdmin(func(c *ldap.Conn) error {
		for _, e := range es {
			if err := c.Add(e); err != nil {
				return fmt.Errorf("add %s: %w", e.DN, err)
			}
		}
		return nil
	})
}

// slapadd adds the configuration in ldif to the empty cn=config.
func (s *Slapd) slapadd(ldif string) error {
	cmd := exec.Command(slapaddPath, "-n0", "-F", s.configDir, "-l", "/dev/stdin")
	cmd.Stdin = strings.NewReader(ldif)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		// The configuration holds only a salted hash, never a password.
		return fmt.Errorf("slapadd of the configuration: %v\n%s", err, out.String())
	}
	return nil
}
