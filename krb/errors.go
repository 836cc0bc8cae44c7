package krb

import (
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
)

// Error classes. Every error Accept returns wraps exactly one of them, so
// the HTTP layer can answer 400 (ErrMalformed), 401 (ErrAuthFailed) or 503
// (ErrUnavailable), and
// log the specific reason with errors.Is on the sentinels below.
var (
	// ErrMalformed: the token is not syntactically a Kerberos GSS token or
	// AP-REQ (or a decrypted part does not decode).
	ErrMalformed = errors.New("krb: malformed token")
	// ErrAuthFailed: a well-formed token that does not authenticate.
	ErrAuthFailed = errors.New("krb: authentication failed")
	// ErrUnavailable: the token could not be checked because something
	// the acceptor depends on failed (a shared replay cache out of
	// reach). Not the client's fault: the HTTP layer answers 503, and
	// never accepts the token unchecked.
	ErrUnavailable = errors.New("krb: replay cache unavailable")
)

// Specific reasons. Each wraps ErrAuthFailed (or ErrMalformed for
// ErrTooLarge); ErrorCode maps them to RFC 4120 §7.5.9 codes.
var (
	ErrTooLarge          = fmt.Errorf("%w: token exceeds MaxTokenSize", ErrMalformed)
	ErrWrongPrincipal    = fmt.Errorf("%w: ticket is for a service principal this acceptor does not serve", ErrAuthFailed)
	ErrNoKey             = fmt.Errorf("%w: no key in the keytab for the ticket's kvno/etype", ErrAuthFailed)
	ErrWeakEtype         = fmt.Errorf("%w: encryption type refused (weak etypes not allowed)", ErrAuthFailed)
	ErrBadIntegrity      = fmt.Errorf("%w: decryption failed (wrong key or tampered)", ErrAuthFailed)
	ErrTicketNotYetValid = fmt.Errorf("%w: ticket not yet valid", ErrAuthFailed)
	ErrTicketExpired     = fmt.Errorf("%w: ticket expired", ErrAuthFailed)
	ErrSkew              = fmt.Errorf("%w: clock skew too great", ErrAuthFailed)
	ErrBadMatch          = fmt.Errorf("%w: authenticator client does not match the ticket", ErrAuthFailed)
	ErrReplay            = fmt.Errorf("%w: request is a replay", ErrAuthFailed)
	// ErrReplayWindow: the authenticator is older than anything the
	// replay cache still remembers (a full cache forgot the oldest), so
	// it may have been seen: refused, though not known to be a replay.
	ErrReplayWindow    = fmt.Errorf("%w: authenticator older than the narrowed replay window (cache full; possibly replayed)", ErrAuthFailed)
	ErrChannelBindings = fmt.Errorf("%w: channel bindings do not match", ErrAuthFailed)
	ErrBadChecksum     = fmt.Errorf("%w: authenticator checksum is not a valid GSS-API checksum", ErrAuthFailed)
	ErrBadPAC          = fmt.Errorf("%w: PAC signature invalid", ErrAuthFailed)
	ErrUnsupported     = fmt.Errorf("%w: unsupported option (user-to-user)", ErrAuthFailed)
)

func errTooLarge(n int) error { return fmt.Errorf("%w (%d bytes)", ErrTooLarge, n) }

// ErrorCode returns the RFC 4120 §7.5.9 error code for an error from
// Accept, for a KRB-ERROR reply; KRB_ERR_GENERIC when none fits.
func ErrorCode(err error) int32 {
	switch {
	case errors.Is(err, ErrWrongPrincipal):
		return errorcode.KRB_AP_ERR_NOT_US
	case errors.Is(err, ErrNoKey):
		return errorcode.KRB_AP_ERR_BADKEYVER
	case errors.Is(err, ErrWeakEtype):
		return errorcode.KDC_ERR_ETYPE_NOSUPP
	case errors.Is(err, ErrBadIntegrity), errors.Is(err, ErrBadPAC):
		return errorcode.KRB_AP_ERR_BAD_INTEGRITY
	case errors.Is(err, ErrTicketNotYetValid):
		return errorcode.KRB_AP_ERR_TKT_NYV
	case errors.Is(err, ErrTicketExpired):
		return errorcode.KRB_AP_ERR_TKT_EXPIRED
	case errors.Is(err, ErrSkew):
		return errorcode.KRB_AP_ERR_SKEW
	case errors.Is(err, ErrBadMatch):
		return errorcode.KRB_AP_ERR_BADMATCH
	case errors.Is(err, ErrReplay), errors.Is(err, ErrReplayWindow):
		return errorcode.KRB_AP_ERR_REPEAT
	case errors.Is(err, ErrChannelBindings), errors.Is(err, ErrBadChecksum):
		return errorcode.KRB_AP_ERR_INAPP_CKSUM
	case errors.Is(err, ErrUnsupported):
		return errorcode.KRB_AP_ERR_METHOD
	case errors.Is(err, ErrMalformed):
		return errorcode.KRB_AP_ERR_MSG_TYPE
	}
	return errorcode.KRB_ERR_GENERIC
}
