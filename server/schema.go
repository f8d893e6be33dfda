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

// The subschema describes every attribute and class wicket serves, and
// everything those descriptions name, so that a client which loads the
// schema and then checks names against it (python3-ldap3's default
// Server() does, on its second connection) accepts it.
//
// The standard descriptions are those Debian's slapd publishes for the
// same OIDs (core, cosine, inetorgperson), without the DESC texts and the
// alternative NAMEs: wicket matches attributes by their first name only,
// and a schema naming 'commonName' would promise filters that find
// nothing. server/testdata/slapd-subschema.ldif holds what slapd
// publishes; schema_test.go compares the two and lists the differences
// that are meant. Where slapd hides a description (the subschema's own
// structure rules and name forms, syntaxes without a validator), it is
// RFC 4512's or RFC 4517's.
//
// Each array is a list of RFC 4512 descriptions; schema_test.go parses
// every one and checks that all they name is described.

// attributeTypes describe every attribute wicket serves, with the OIDs of
// the standards that define them; those wicket defines are under its arc.
var attributeTypes = []string{
	"( 2.5.4.0 NAME 'objectClass' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " )",
	"( 2.5.4.41 NAME 'name' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{32768} )",
	"( 2.5.4.49 NAME 'distinguishedName' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " )",
	"( 2.5.4.3 NAME 'cn' SUP name )",
	"( 2.5.4.4 NAME 'sn' SUP name )",
	"( 2.5.4.42 NAME 'givenName' SUP name )",
	"( 2.5.4.10 NAME 'o' SUP name )",
	"( 2.5.4.11 NAME 'ou' SUP name )",
	"( 2.5.4.31 NAME 'member' SUP distinguishedName )",
	"( 0.9.2342.19200300.100.1.1 NAME 'uid' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{256} )",
	"( 0.9.2342.19200300.100.1.3 NAME 'mail' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + "{256} )",
	"( 0.9.2342.19200300.100.1.25 NAME 'dc' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.241 NAME 'displayName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.13 NAME 'mailAlternateAddress' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " )",
	"( 1.2.840.113556.1.2.102 NAME 'memberOf' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " NO-USER-MODIFICATION )",

	// Described though never returned: person and the classes below name
	// it, and a client that looks it up must find it.
	"( 2.5.4.35 NAME 'userPassword' EQUALITY octetStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.40{128} )",

	// The optional attributes of person, organizationalPerson and
	// inetOrgPerson (RFC 4519, RFC 2798), and of organization and
	// organizationalUnit. wicket serves few of them, but a client that
	// reads the classes looks up every one.
	"( 2.5.4.13 NAME 'description' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{1024} )",
	"( 2.5.4.20 NAME 'telephoneNumber' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50{32} )",
	"( 2.5.4.34 NAME 'seeAlso' SUP distinguishedName )",
	"( 2.5.4.12 NAME 'title' SUP name )",
	"( 2.5.4.24 NAME 'x121Address' EQUALITY numericStringMatch SUBSTR numericStringSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.36{15} )",
	"( 2.5.4.16 NAME 'postalAddress' EQUALITY caseIgnoreListMatch SUBSTR caseIgnoreListSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.41 )",
	"( 2.5.4.26 NAME 'registeredAddress' SUP postalAddress SYNTAX 1.3.6.1.4.1.1466.115.121.1.41 )",
	"( 2.5.4.27 NAME 'destinationIndicator' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.44{128} )",
	"( 2.5.4.28 NAME 'preferredDeliveryMethod' SYNTAX 1.3.6.1.4.1.1466.115.121.1.14 SINGLE-VALUE )",
	"( 2.5.4.21 NAME 'telexNumber' SYNTAX 1.3.6.1.4.1.1466.115.121.1.52 )",
	"( 2.5.4.22 NAME 'teletexTerminalIdentifier' SYNTAX 1.3.6.1.4.1.1466.115.121.1.51 )",
	"( 2.5.4.25 NAME 'internationaliSDNNumber' EQUALITY numericStringMatch SUBSTR numericStringSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.36{16} )",
	"( 2.5.4.23 NAME 'facsimileTelephoneNumber' SYNTAX 1.3.6.1.4.1.1466.115.121.1.22 )",
	"( 2.5.4.9 NAME 'street' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{128} )",
	"( 2.5.4.18 NAME 'postOfficeBox' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{40} )",
	"( 2.5.4.17 NAME 'postalCode' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{40} )",
	"( 2.5.4.19 NAME 'physicalDeliveryOfficeName' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{128} )",
	"( 2.5.4.8 NAME 'st' SUP name )",
	"( 2.5.4.7 NAME 'l' SUP name )",
	"( 2.5.4.14 NAME 'searchGuide' SYNTAX 1.3.6.1.4.1.1466.115.121.1.25 )",
	"( 2.5.4.15 NAME 'businessCategory' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{128} )",
	"( 0.9.2342.19200300.100.1.55 NAME 'audio' SYNTAX 1.3.6.1.4.1.1466.115.121.1.4{25000} )",
	"( 2.16.840.1.113730.3.1.1 NAME 'carLicense' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 2.16.840.1.113730.3.1.2 NAME 'departmentNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 2.16.840.1.113730.3.1.3 NAME 'employeeNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.4 NAME 'employeeType' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " )",
	"( 0.9.2342.19200300.100.1.20 NAME 'homePhone' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
	"( 0.9.2342.19200300.100.1.39 NAME 'homePostalAddress' EQUALITY caseIgnoreListMatch SUBSTR caseIgnoreListSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.41 )",
	"( 2.5.4.43 NAME 'initials' SUP name )",
	"( 0.9.2342.19200300.100.1.60 NAME 'jpegPhoto' SYNTAX 1.3.6.1.4.1.1466.115.121.1.28 )",
	"( 1.3.6.1.4.1.250.1.57 NAME 'labeledURI' EQUALITY caseExactMatch SYNTAX " + synDirectoryString + " )",
	"( 0.9.2342.19200300.100.1.10 NAME 'manager' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " )",
	"( 0.9.2342.19200300.100.1.41 NAME 'mobile' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
	"( 0.9.2342.19200300.100.1.42 NAME 'pager' EQUALITY telephoneNumberMatch SUBSTR telephoneNumberSubstringsMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
	"( 0.9.2342.19200300.100.1.7 NAME 'photo' SYNTAX 1.3.6.1.4.1.1466.115.121.1.23{25000} )",
	"( 0.9.2342.19200300.100.1.6 NAME 'roomNumber' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{256} )",
	"( 0.9.2342.19200300.100.1.21 NAME 'secretary' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " )",
	"( 2.5.4.36 NAME 'userCertificate' EQUALITY certificateExactMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.8 )",
	"( 2.5.4.45 NAME 'x500UniqueIdentifier' EQUALITY bitStringMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.6 )",
	"( 2.16.840.1.113730.3.1.39 NAME 'preferredLanguage' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE )",
	"( 2.16.840.1.113730.3.1.40 NAME 'userSMIMECertificate' SYNTAX 1.3.6.1.4.1.1466.115.121.1.5 )",
	"( 2.16.840.1.113730.3.1.216 NAME 'userPKCS12' SYNTAX 1.3.6.1.4.1.1466.115.121.1.5 )",
	"( 2.5.4.32 NAME 'owner' SUP distinguishedName )",

	// The subschema's own attributes (RFC 4512 4.2, RFC 3672 2.1).
	"( 2.5.21.5 NAME 'attributeTypes' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.3 USAGE directoryOperation )",
	"( 2.5.21.6 NAME 'objectClasses' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.37 USAGE directoryOperation )",
	"( 1.3.6.1.4.1.1466.101.120.16 NAME 'ldapSyntaxes' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.54 USAGE directoryOperation )",
	"( 2.5.21.4 NAME 'matchingRules' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.30 USAGE directoryOperation )",
	"( 2.5.21.8 NAME 'matchingRuleUse' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.31 USAGE directoryOperation )",
	"( 2.5.21.1 NAME 'dITStructureRules' EQUALITY integerFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.17 USAGE directoryOperation )",
	"( 2.5.21.2 NAME 'dITContentRules' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.16 USAGE directoryOperation )",
	"( 2.5.21.7 NAME 'nameForms' EQUALITY objectIdentifierFirstComponentMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.35 USAGE directoryOperation )",
	"( 2.5.18.6 NAME 'subtreeSpecification' SYNTAX 1.3.6.1.4.1.1466.115.121.1.45 SINGLE-VALUE USAGE directoryOperation )",

	// The root DSE's (RFC 4512 5.1, RFC 3045).
	"( 1.3.6.1.4.1.1466.101.120.5 NAME 'namingContexts' EQUALITY distinguishedNameMatch SYNTAX " + synDN + " USAGE dSAOperation )",
	"( 1.3.6.1.4.1.1466.101.120.6 NAME 'altServer' SYNTAX " + synIA5String + " USAGE dSAOperation )",
	"( 1.3.6.1.4.1.1466.101.120.7 NAME 'supportedExtension' SYNTAX " + synOID + " USAGE dSAOperation )",
	"( 1.3.6.1.4.1.1466.101.120.13 NAME 'supportedControl' SYNTAX " + synOID + " USAGE dSAOperation )",
	"( 1.3.6.1.4.1.1466.101.120.14 NAME 'supportedSASLMechanisms' SYNTAX " + synDirectoryString + " USAGE dSAOperation )",
	"( 1.3.6.1.4.1.1466.101.120.15 NAME 'supportedLDAPVersion' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 USAGE dSAOperation )",
	"( 1.3.6.1.4.1.4203.1.3.5 NAME 'supportedFeatures' EQUALITY objectIdentifierMatch SYNTAX " + synOID + " USAGE dSAOperation )",
	"( 1.3.6.1.1.4 NAME 'vendorName' EQUALITY caseExactMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE NO-USER-MODIFICATION USAGE dSAOperation )",
	"( 1.3.6.1.1.5 NAME 'vendorVersion' EQUALITY caseExactMatch SYNTAX " + synDirectoryString + " SINGLE-VALUE NO-USER-MODIFICATION USAGE dSAOperation )",

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
	"( 0.9.2342.19200300.100.1.9 NAME 'host' DESC 'RFC1274: host computer' EQUALITY caseIgnoreMatch SUBSTR caseIgnoreSubstringsMatch SYNTAX " + synDirectoryString + "{256} )",
	"( 1.3.6.1.1.1.1.0 NAME 'uidNumber' DESC 'RFC2307: An integer uniquely identifying a user in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.1 NAME 'gidNumber' DESC 'RFC2307: An integer uniquely identifying a group in an administrative domain' EQUALITY integerMatch ORDERING integerOrderingMatch SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.2 NAME 'gecos' DESC 'The GECOS field; the common name' EQUALITY caseIgnoreIA5Match SUBSTR caseIgnoreIA5SubstringsMatch SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.3 NAME 'homeDirectory' DESC 'The absolute path to the home directory' EQUALITY caseExactIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE )",
	"( 1.3.6.1.1.1.1.4 NAME 'loginShell' DESC 'The path to the login shell' EQUALITY caseExactIA5Match SYNTAX " + synIA5String + " SINGLE-VALUE )",
}

var objectClasses = []string{
	"( 2.5.6.0 NAME 'top' ABSTRACT MUST objectClass )",
	"( 2.5.6.4 NAME 'organization' SUP top STRUCTURAL MUST o MAY ( userPassword $ searchGuide $ seeAlso $ businessCategory $ x121Address $ registeredAddress $ destinationIndicator $ preferredDeliveryMethod $ telexNumber $ teletexTerminalIdentifier $ telephoneNumber $ internationaliSDNNumber $ facsimileTelephoneNumber $ street $ postOfficeBox $ postalCode $ postalAddress $ physicalDeliveryOfficeName $ st $ l $ description ) )",
	"( 2.5.6.5 NAME 'organizationalUnit' SUP top STRUCTURAL MUST ou MAY ( userPassword $ searchGuide $ seeAlso $ businessCategory $ x121Address $ registeredAddress $ destinationIndicator $ preferredDeliveryMethod $ telexNumber $ teletexTerminalIdentifier $ telephoneNumber $ internationaliSDNNumber $ facsimileTelephoneNumber $ street $ postOfficeBox $ postalCode $ postalAddress $ physicalDeliveryOfficeName $ st $ l $ description ) )",
	"( 1.3.6.1.4.1.1466.344 NAME 'dcObject' SUP top AUXILIARY MUST dc )",
	"( 2.5.6.6 NAME 'person' SUP top STRUCTURAL MUST ( sn $ cn ) MAY ( userPassword $ telephoneNumber $ seeAlso $ description ) )",
	"( 2.5.6.7 NAME 'organizationalPerson' SUP person STRUCTURAL MAY ( title $ x121Address $ registeredAddress $ destinationIndicator $ preferredDeliveryMethod $ telexNumber $ teletexTerminalIdentifier $ telephoneNumber $ internationaliSDNNumber $ facsimileTelephoneNumber $ street $ postOfficeBox $ postalCode $ postalAddress $ physicalDeliveryOfficeName $ ou $ st $ l ) )",
	"( 2.16.840.1.113730.3.2.2 NAME 'inetOrgPerson' SUP organizationalPerson STRUCTURAL MAY ( audio $ businessCategory $ carLicense $ departmentNumber $ displayName $ employeeNumber $ employeeType $ givenName $ homePhone $ homePostalAddress $ initials $ jpegPhoto $ labeledURI $ mail $ manager $ mobile $ o $ pager $ photo $ roomNumber $ secretary $ uid $ userCertificate $ x500uniqueIdentifier $ preferredLanguage $ userSMIMECertificate $ userPKCS12 ) )",
	// RFC 4519 makes member a MUST; wicket serves a group without members
	// as it is, with none.
	"( 2.5.6.9 NAME 'groupOfNames' SUP top STRUCTURAL MUST cn MAY ( member $ businessCategory $ seeAlso $ owner $ ou $ o $ description ) )",
	"( 2.5.20.1 NAME 'subschema' AUXILIARY MAY ( dITStructureRules $ nameForms $ dITContentRules $ objectClasses $ attributeTypes $ matchingRules $ matchingRuleUse ) )",
	"( 2.5.17.0 NAME 'subentry' SUP top STRUCTURAL MUST ( cn $ subtreeSpecification ) )",
	"( " + exop.OIDClassWicketRootDSE + " NAME 'wicketRootDSE' DESC 'wicket: the root DSE' SUP top STRUCTURAL )",
	"( " + exop.OIDClassWicketAccount + " NAME 'wicketAccount' DESC 'wicket: an account that binds through wicket' SUP top AUXILIARY MAY ( appPasswordId $ mailAlternateAddress $ memberOf $ accountStatus $ wicketRole $ cn $ mail $ displayName ) )",
	"( " + exop.OIDClassWicketAppPassword + " NAME 'wicketAppPassword' DESC 'wicket: an app-specific password, never its secret' SUP top STRUCTURAL MUST ( appPasswordId $ label ) MAY ( lastUsedTimestamp $ lastUsedFrom ) )",
	"( 0.9.2342.19200300.100.4.5 NAME 'account' DESC 'RFC4524: a computer account; wicket: a service account' SUP top STRUCTURAL MUST uid MAY ( description $ seeAlso $ l $ o $ ou $ host ) )",
	"( 1.3.6.1.1.1.2.0 NAME 'posixAccount' DESC 'Abstraction of an account with POSIX attributes' SUP top AUXILIARY MUST ( cn $ uid $ uidNumber $ gidNumber $ homeDirectory ) MAY ( userPassword $ loginShell $ gecos $ description ) )",
}

var ldapSyntaxes = []string{
	"( 1.3.6.1.4.1.1466.115.121.1.3 DESC 'Attribute Type Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.4 DESC 'Audio' X-NOT-HUMAN-READABLE 'TRUE' )",
	"( 1.3.6.1.4.1.1466.115.121.1.5 DESC 'Binary' X-NOT-HUMAN-READABLE 'TRUE' )",
	"( 1.3.6.1.4.1.1466.115.121.1.6 DESC 'Bit String' )",
	"( 1.3.6.1.4.1.1466.115.121.1.8 DESC 'Certificate' X-BINARY-TRANSFER-REQUIRED 'TRUE' X-NOT-HUMAN-READABLE 'TRUE' )",
	"( 1.3.6.1.4.1.1466.115.121.1.14 DESC 'Delivery Method' )",
	"( 1.3.6.1.4.1.1466.115.121.1.16 DESC 'DIT Content Rule Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.17 DESC 'DIT Structure Rule Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.22 DESC 'Facsimile Telephone Number' )",
	"( 1.3.6.1.4.1.1466.115.121.1.23 DESC 'Fax' X-NOT-HUMAN-READABLE 'TRUE' )",
	"( 1.3.6.1.4.1.1466.115.121.1.25 DESC 'Guide' )",
	"( 1.3.6.1.4.1.1466.115.121.1.27 DESC 'Integer' )",
	"( 1.3.6.1.4.1.1466.115.121.1.28 DESC 'JPEG' X-NOT-HUMAN-READABLE 'TRUE' )",
	"( 1.3.6.1.4.1.1466.115.121.1.30 DESC 'Matching Rule Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.31 DESC 'Matching Rule Use Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.35 DESC 'Name Form Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.36 DESC 'Numeric String' )",
	"( 1.3.6.1.4.1.1466.115.121.1.37 DESC 'Object Class Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.40 DESC 'Octet String' )",
	"( 1.3.6.1.4.1.1466.115.121.1.41 DESC 'Postal Address' )",
	"( 1.3.6.1.4.1.1466.115.121.1.44 DESC 'Printable String' )",
	"( 1.3.6.1.4.1.1466.115.121.1.45 DESC 'SubtreeSpecification' )",
	"( 1.3.6.1.4.1.1466.115.121.1.50 DESC 'Telephone Number' )",
	"( 1.3.6.1.4.1.1466.115.121.1.51 DESC 'Teletex Terminal Identifier' )",
	"( 1.3.6.1.4.1.1466.115.121.1.52 DESC 'Telex Number' )",
	"( 1.3.6.1.4.1.1466.115.121.1.54 DESC 'LDAP Syntax Description' )",
	"( 1.3.6.1.4.1.1466.115.121.1.58 DESC 'Substring Assertion' )",
	"( 1.3.6.1.1.15.1 DESC 'X.509 Certificate Exact Assertion' )",
	"( " + synDirectoryString + " DESC 'Directory String' )",
	"( " + synIA5String + " DESC 'IA5 String' )",
	"( " + synDN + " DESC 'Distinguished Name' )",
	"( " + synGeneralizedTime + " DESC 'Generalized Time' )",
	"( " + synOID + " DESC 'OID' )",
	"( 1.3.6.1.1.16.1 DESC 'UUID' )",
	"( 1.3.6.1.4.1.1466.115.121.1.7 DESC 'Boolean' )",
}

var matchingRules = []string{
	"( 2.5.13.0 NAME 'objectIdentifierMatch' SYNTAX " + synOID + " )",
	"( 2.5.13.30 NAME 'objectIdentifierFirstComponentMatch' SYNTAX " + synOID + " )",
	"( 2.5.13.29 NAME 'integerFirstComponentMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.27 )",
	"( 2.5.13.5 NAME 'caseExactMatch' SYNTAX " + synDirectoryString + " )",
	"( 2.5.13.8 NAME 'numericStringMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.36 )",
	"( 2.5.13.10 NAME 'numericStringSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 2.5.13.11 NAME 'caseIgnoreListMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.41 )",
	"( 2.5.13.12 NAME 'caseIgnoreListSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 2.5.13.16 NAME 'bitStringMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.6 )",
	"( 2.5.13.17 NAME 'octetStringMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.40 )",
	"( 2.5.13.20 NAME 'telephoneNumberMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.50 )",
	"( 2.5.13.21 NAME 'telephoneNumberSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 2.5.13.34 NAME 'certificateExactMatch' SYNTAX 1.3.6.1.1.15.1 )",
	"( 2.5.13.1 NAME 'distinguishedNameMatch' SYNTAX " + synDN + " )",
	"( 2.5.13.2 NAME 'caseIgnoreMatch' SYNTAX " + synDirectoryString + " )",
	"( 2.5.13.4 NAME 'caseIgnoreSubstringsMatch' SYNTAX 1.3.6.1.4.1.1466.115.121.1.58 )",
	"( 1.3.6.1.4.1.1466.109.114.2 NAME 'caseIgnoreIA5Match' SYNTAX " + synIA5String + " )",
	// RFC 4517 4.2.14's assertion syntax; slapd publishes IA5 String.
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

// extensibleRules are the OIDs of the matching rules that an extensible
// filter may name (filter.go's extensibleMatch evaluates these and no
// others).
var extensibleRules = []string{"2.5.13.2", "1.3.6.1.4.1.1466.109.114.2"}

// matchingRuleUse says which attributes an extensible filter may apply
// each of those rules to (RFC 4512 4.1.4): the types whose equality it is.
// It is derived from the descriptions above, so a type added there is
// listed here without a second edit.
var matchingRuleUse = ruleUses(attributeTypes, matchingRules, extensibleRules)

func subschemaEntry() *entry {
	return &entry{dn: subschemaDN, attrs: []attribute{
		{"objectClass", []string{"top", "subentry", "subschema"}},
		{"cn", []string{"Subschema"}},
		{"attributeTypes", attributeTypes},
		{"objectClasses", objectClasses},
		{"ldapSyntaxes", ldapSyntaxes},
		{"matchingRules", matchingRules},
		{"matchingRuleUse", matchingRuleUse},
	}}
}

// The subschema's descriptions are operational (RFC 4512 4.2): returned
// when named or with "+".
func subschemaOperational(name string) bool {
	return !strings.EqualFold(name, "objectClass") && !strings.EqualFold(name, "cn")
}
