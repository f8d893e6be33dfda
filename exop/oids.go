// Package exop is the wire format of wicket's own LDAP extended operations:
// their OIDs and the BER of each request and response value. The server, the
// command line and the tests all import it, so all three speak the same
// bytes; docs/PROTOCOL.md describes the same in ASN.1 for other clients.
package exop

// Arc is wicket's OID arc. It lies under 2.25, where a UUID written as an
// integer is an OID anyone may use without registration (ITU-T X.667), so
// it cannot collide with another vendor's.
const Arc = "2.25.253255299389125566409466224012290316051"

// Extended operations (Arc.1.n).
const (
	OIDAppPasswordCreate    = Arc + ".1.1"
	OIDAppPasswordList      = Arc + ".1.2"
	OIDAppPasswordRevoke    = Arc + ".1.3"
	OIDAppPasswordRevokeAll = Arc + ".1.4"
)

// Attribute types (Arc.2.n) and object classes (Arc.3.n) of the directory
// view, for the subschema.
const (
	OIDAttrAppPasswordID     = Arc + ".2.1"
	OIDAttrLabel             = Arc + ".2.2"
	OIDAttrLastUsedTimestamp = Arc + ".2.3"
	OIDAttrLastUsedFrom      = Arc + ".2.4"
	OIDAttrAccountStatus     = Arc + ".2.5"
	OIDAttrRole              = Arc + ".2.6"

	OIDClassWicketAccount     = Arc + ".3.1"
	OIDClassWicketAppPassword = Arc + ".3.2"
	OIDClassWicketRootDSE     = Arc + ".3.3"
)

// Standard operations wicket also answers.
const (
	OIDWhoAmI         = "1.3.6.1.4.1.4203.1.11.3" // RFC 4532
	OIDPasswordModify = "1.3.6.1.4.1.4203.1.11.1" // RFC 3062
)
