package email

import (
	"errors"
	"net/textproto"
	"strconv"
)

// A transaction sent one command at a time costs four round trips to the
// relay (MAIL, RCPT, DATA, the message) and a flush and a wait for each.
// When the relay offers PIPELINING (RFC 2920) and CHUNKING (RFC 3030), as
// Postfix, Exchange and the big providers do, herald writes MAIL FROM,
// RCPT TO and "BDAT <size> LAST" with the message in one go and then reads
// the three replies: one round trip, and no dot-stuffing of the message on
// either side. With PIPELINING alone, MAIL, RCPT and DATA go together and
// the message follows the 354: two round trips. The replies are read one
// by one, so every failure is still known by its command, and the
// connection stays in step with the relay whatever it answers (a relay
// discards a BDAT chunk it refuses; RFC 3030 section 2).

// relayCaps is what the relay advertised in its EHLO reply, read once per
// connection.
type relayCaps struct {
	pipelining bool
	chunking   bool
	eightBit   bool
	smtpUTF8   bool
	dsn        bool
}

// mailCmd is the MAIL FROM command with the parameters go-mail would send, so that
// a pipelined transaction reads the same to the relay as a plain one.
func (ch *Channel) mailCmd(c *conn, from string, ascii bool) string {
	s := "MAIL FROM:" + from
	if c.caps.eightBit {
		s += " BODY=8BITMIME"
	}
	if c.caps.smtpUTF8 && !ascii {
		s += " SMTPUTF8"
	}
	if c.caps.dsn && !ch.cfg.OmitDSN {
		s += " RET=HDRS"
	}
	return s
}

func (ch *Channel) rcptCmd(c *conn, to string) string {
	if c.caps.dsn && !ch.cfg.OmitDSN {
		return "RCPT TO:" + to + " NOTIFY=FAILURE"
	}
	return "RCPT TO:" + to
}

// transactPipelined sends r on c in one or two round trips (see above). It
// reports the phase of the first failure and whether c is in a clean state
// for the next message.
func (ch *Channel) transactPipelined(c *conn, r *rendered) (resp string, ph phase, keep bool, err error) {
	text := c.client.Text
	w := text.W
	ascii := isASCII(r.env.From) && isASCII(r.env.To)
	w.WriteString(ch.mailCmd(c, r.env.From, ascii))
	w.WriteString("\r\n")
	w.WriteString(ch.rcptCmd(c, r.env.To))
	w.WriteString("\r\n")
	if c.caps.chunking {
		w.WriteString("BDAT ")
		w.WriteString(strconv.Itoa(len(r.raw)))
		w.WriteString(" LAST\r\n")
		w.Write(r.raw)
	} else {
		w.WriteString("DATA\r\n")
	}
	if err := w.Flush(); err != nil {
		return "", phaseMail, false, err
	}

	// Read every reply, whatever the earlier ones were: the relay answers
	// each command, and a reply left unread would be taken as the answer
	// to the next message's first command.
	_, _, mailErr := text.ReadResponse(250)
	_, _, rcptErr := text.ReadResponse(25)
	var code int
	if c.caps.chunking {
		code, resp, err = text.ReadResponse(250)
	} else {
		code, _, err = text.ReadResponse(354)
	}
	dataErr := err
	switch {
	case !isReply(mailErr) || !isReply(rcptErr) || !isReply(dataErr):
		// A dropped connection or garbage: nothing is known, and c is done.
		first, p := firstErr(mailErr, rcptErr, dataErr)
		return "", p, false, first
	case mailErr != nil || rcptErr != nil:
		first, p := firstErr(mailErr, rcptErr, nil)
		if !c.caps.chunking && code == 354 {
			// The relay took DATA although the transaction failed:
			// send it an empty message to end it, then reset.
			if _, err := text.Cmd("."); err != nil {
				return "", p, false, first
			}
			if _, _, err := text.ReadResponse(0); !isReply(err) {
				return "", p, false, first
			}
		}
		return "", p, reusableAfter(c, p, first), first
	case dataErr != nil:
		p := phaseData
		if c.caps.chunking {
			p = phaseDataEnd // the relay had the whole message
		}
		return "", p, reusableAfter(c, p, dataErr), dataErr
	}
	if c.caps.chunking {
		c.sent++
		return resp, phaseDataEnd, true, nil
	}
	// PIPELINING without CHUNKING: the message follows the 354.
	dw := text.DotWriter()
	if _, err := dw.Write(r.raw); err != nil {
		return "", phaseBody, false, err
	}
	if err := dw.Close(); err != nil {
		return "", phaseBody, false, err
	}
	_, resp, err = text.ReadResponse(250)
	if err != nil {
		return "", phaseDataEnd, isReply(err) && reusableAfter(c, phaseDataEnd, err), err
	}
	c.sent++
	return resp, phaseDataEnd, true, nil
}

// isReply reports whether err is nil or an SMTP reply, as opposed to a
// failure to read one.
func isReply(err error) bool {
	var tp *textproto.Error
	return err == nil || errors.As(err, &tp)
}

// firstErr returns the first non-nil error of MAIL, RCPT and DATA/BDAT,
// with its phase.
func firstErr(mail, rcpt, data error) (error, phase) {
	switch {
	case mail != nil:
		return mail, phaseMail
	case rcpt != nil:
		return rcpt, phaseRcpt
	}
	return data, phaseData
}
