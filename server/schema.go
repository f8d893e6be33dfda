package server

import (
	"strings"

	"github.com/wicketldap/wicket/exop"
)

// subschemaDN is where the root DSE's subschemaSubentry points (RFC 4512 4.2).
const subschemaDN = "cn=Subschema"

// Syntax OIDs of RFC 4517.
const (
	synDirectoryString = "1.3.6.1.4.1.1466.115.121.1.15"
	synIA5String       = "1.3.6.1.4.1.1466.115.121.1.26"
	synDN              = "1.3.6.1.4.1.1466.115.121.1.12"
	synGeneralizedTime = "1.3.6.1.4.1.1466.115.121.1.24"
	synOID             = "1.3.6.1.4.1.1466.115.121.1.38"
)

// attributeTypes describe every attribute wicket serves, with the OIDs of
// the standards that define them; those wicket defines are under its arc.
var attributeTypes = []string{
	"( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " )",
	"( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 2.5.4.3 NAME 'cn' SUP name )",
	"( 2.5.4.4 NAME 'sn' SUP name )",
	"( 2.5.4.42 NAME 'givenName' SUP name )",
	"( 2.5.4.10 NAME 'o' SUP name )",
	"( 2.5.4.11 NAME 'ou' SUP name )",
	"( 2.5.4.31 NAME 'member' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " )",
	"( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 0.9.2342.19200300.100.1.3 NAME 'mail' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " )",
	"( 0.9.2342.19200300.100.1.25 NAME 'dc' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.13 NAME 'mailAlternateAddress' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " )",
	"( 1.2.840.113556.1.2.102 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " NO-USER-MODIFICATION )",
	"( 2.5.18.1 NAME 'createTimestamp' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX " + synGeneralizedTime + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( 2.5.18.10 NAME 'subschemaSubentry' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( " + exop.OIDAttrAppPasswordID + " NAME 'appPasswordId' DESC 'wicket: an active app-specific password' EQUALITY caseIgnoreMatch SYNTAX " + synDirectoryString + " )",
	"( " + exop.OIDAttrLabel + " NAME 'label' DESC 'wicket: what the app password is for' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )",
	"( " + exop.OIDAttrLastUsedTimestamp + " NAME 'lastUsedTimestamp' DESC 'wicket: last successful bind with the app password' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX " + synGeneralizedTime + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( " + exop.OIDAttrLastUsedFrom + " NAME 'lastUsedFrom' DESC 'wicket: client address of that bind' EQUALITY caseIgnoreIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( " + exop.OIDAttrAccountStatus + " NAME 'accountStatus' DESC 'wicket: active or disabled' EQUALITY caseIgnoreIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE NO-USER-MODIFICATION )",
	"( 1.3.6.1.1.16.4 NAME 'entryUUID' DESC 'UUID of the entry' EQUALITY UUIDMatch ORDERING UUIDOrderingMatch SYNTAX 1.3.6.1.1.16.1 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( 2.5.18.2 NAME 'modifyTimestamp' DESC 'RFC4512: time which object was last modified' EQUALITY generalizedTimeMatch ORDERING generalizedTimeOrderingMatch SYNTAX " + synGeneralizedTime + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( 1.3.6.1.1.20 NAME 'entryDN' DESC 'DN of the entry' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( 2.5.21.9 NAME 'structuralObjectClass' DESC 'RFC4512: structural object class of entry' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( 2.5.18.9 NAME 'hasSubordinates' DESC 'X.501: entry has children' EQUALITY booleanMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 SINGLE-VALUE NO-USER-MODIFICATION USAGE directoryOperation )",
	"( " + exop.OIDAttrRole + " NAME 'wicketRole' DESC 'wicket: user, admin or service (a service reads the directory and logs in to no mail)' EQUALITY caseIgnoreIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE NO-USER-MODIFICATION )",
	"( 0.9.2342.19200300.100.1.9 NAME 'host' DESC 'RFC1274: host computer' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 1.3.6.1.1.1.1.0 NAME 'uidNumber' DESC 'RFC2307: An integer uniquely identifying a user in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.1 NAME 'gidNumber' DESC 'RFC2307: An integer uniquely identifying a group in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.2 NAME 'gecos' DESC 'The GECOS field; the common name' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' DESC 'The absolute path to the home directory' EQUALITY caseExactIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.4 NAME 'loginShell' DESC 'The path to the login shell' EQUALITY caseExactIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE )",
}

var objectClasses = []string{
	"( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
	"( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o )",
	"( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou )",
	"( 1.3.6.1.4.1.1466.344 NAME 'dcObject' SUP top AUXILIARY MUST dc )",
	"( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) )",
	"( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL )",
	"( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( uid $ mail $ givenName $ displayName ) )",
	"( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY member )",
	"( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( attributeTypes $ objectClasses $ ldapSyntaxes $ matchingRules ) )",
	"( 2.5.17.0 NAME 'subentry' SUP top STRUCTURAL MUST cn )",
	"( " + exop.OIDClassWicketAccount + " NAME 'wicketAccount' DESC 'wicket: an account that binds through wicket' SUP top AUXILIARY MAY ( appPasswordId $ mailAlternateAddress $ memberOf $ accountStatus $ wicketRole $ cn $ mail $ displayName ) )",
	"( " + exop.OIDClassWicketAppPassword + " NAME 'wicketAppPassword' DESC 'wicket: an app-specific password, never its secret' SUP top STRUCTURAL MUST ( appPasswordId $ label ) MAY ( lastUsedTimestamp $ lastUsedFrom ) )",
	"( 0.9.2342.19200300.100.4.5 NAME 'account' DESC 'RFC4524: a computer account; wicket: a service account' SUP top STRUCTURAL MUST uid MAY ( description $ seeAlso $ l $ o $ ou $ host ) )",
	"( 1.3.6.1.1.1.2.0 NAME 'posixAccount' DESC 'Abstraction of an account with POSIX attributes' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( userPassword $ loginShell $ gecos $ description ) )",
}

var ldapSyntaxes = []string{
	"( " + synDirectoryString + " DESC 'Directory String' )",
	"( " + synIA5String + " DESC 'IA5 String' )",
	"( " + synDN + " DESC 'DN' )",
	"( " + synGeneralizedTime + " DESC 'Generalized Time' )",
	"( " + synOID + " DESC 'OID' )",
	"( 1.3.6.1.1.16.1 DESC 'UUID' )",
	"( 1.3.6.1.4.1.1466.115.121.1.7 DESC 'Boolean' )",
}

var matchingRules = []string{
	"( 2.5.13.0 NAME 'objectIdentifierMatch' SYNTAX " + synOID + " )",
	"( 2.5.13.1 NAME 'distinguishedNameMatch' SYNTAX " + synDN + " )",
	"( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX " + synDirectoryString + " )",
	"( 2.5.13.4 NAME 'caseIgnoreSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 1.3.6.1.4.1.1466.109.114.2 NAME 'caseIgnoreIA5Match' SYNTAX " + synIA5String + " )",
	"( 1.3.6.1.4.1.1466.109.114.3 NAME 'caseIgnoreIA5SubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 2.5.13.27 NAME 'generalizedTimeMatch' SYNTAX " + synGeneralizedTime + " )",
	"( 2.5.13.28 NAME 'generalizedTimeOrderingMatch' SYNTAX " + synGeneralizedTime + " )",
	"( 1.3.6.1.1.16.2 NAME 'UUIDMatch' SYNTAX 1.3.6.1.1.16.1 )",
	"( 1.3.6.1.1.16.3 NAME 'UUIDOrderingMatch' SYNTAX 1.3.6.1.1.16.1 )",
	"( 2.5.13.13 NAME 'booleanMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.7 )",
	"( 2.5.13.14 NAME 'integerMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 )",
	"( 2.5.13.15 NAME 'integerOrderingMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 )",
	"( 1.3.6.1.4.1.1466.109.114.1 NAME 'caseExactIA5Match' SYNTAX " + synIA5String + " )",
}

func subschemaEntry() *entry {
	return &entry{dn: subschemaDN, attrs: []attribute{
		{"objectClass", []string{"top", "subentry", "subschema"}},
		{"cn", []string{"Subschema"}},
		{"attributeTypes", attributeTypes},
		{"objectClasses", objectClasses},
		{"ldapSyntaxes", ldapSyntaxes},
		{"matchingRules", matchingRules},
	}}
}

// The subschema's descriptions are operational (RFC 4512 4.2): returned
// when named or with "+".
func subschemaOperational(name string) bool {
	return !strings.EqualFold(name, "objectClass") && !strings.EqualFold(name, "cn")
}
