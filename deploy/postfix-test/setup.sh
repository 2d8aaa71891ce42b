#!/usr/bin/env bash
# Installs (when missing), configures and starts a Postfix on loopback for
# herald's bounce integration test (channels/email/bouncerecv/postfix_test.go):
#
#   herald --SMTP--> Postfix 127.0.0.1:$POSTFIX_PORT --> nobody@dead.test
#                    (dead.test is local and has no mailboxes: Postfix
#                     accepts the message, then bounces it with a real DSN)
#   Postfix --DSN to bounces+TOKEN@bounce.test--> herald's bounce receiver
#                    on $BOUNCE_ADDR (transport map)
#
# It reconfigures this machine's Postfix (listening on loopback only, the
# default port-25 service switched off), so run it in CI or on a throwaway
# machine, as root. It is idempotent: run it again to re-apply the
# configuration and reload.
#
# Environment (defaults in brackets):
#   HERALD_TEST_POSTFIX_PORT  port Postfix listens on for herald [2525]
#   HERALD_TEST_BOUNCE_ADDR   host:port of herald's bounce receiver [127.0.0.1:2526]
#   HERALD_TEST_DEAD_DOMAIN   domain without mailboxes [dead.test]
#   HERALD_TEST_BOUNCE_DOMAIN VERP bounce domain [bounce.test]
set -euo pipefail

POSTFIX_PORT=${HERALD_TEST_POSTFIX_PORT:-2525}
BOUNCE_ADDR=${HERALD_TEST_BOUNCE_ADDR:-127.0.0.1:2526}
DEAD_DOMAIN=${HERALD_TEST_DEAD_DOMAIN:-dead.test}
BOUNCE_DOMAIN=${HERALD_TEST_BOUNCE_DOMAIN:-bounce.test}
CONF_DIR=/etc/postfix/herald-test
LOG_FILE=/var/log/postfix-herald-test.log

say() { printf 'postfix-test: %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
	say "must run as root (it installs and configures Postfix)" >&2
	exit 1
fi

bounce_host=${BOUNCE_ADDR%:*}
bounce_port=${BOUNCE_ADDR##*:}
case $bounce_port in '' | *[!0-9]*)
	say "HERALD_TEST_BOUNCE_ADDR=$BOUNCE_ADDR is not host:port" >&2
	exit 1
	;;
esac

# 1. Install from Debian's packages when missing, without questions.
if ! command -v postconf >/dev/null 2>&1; then
	say "installing postfix"
	printf '%s\n' \
		"postfix postfix/main_mailer_type select Local only" \
		"postfix postfix/mailname string postfix-test.localhost" |
		debconf-set-selections
	export DEBIAN_FRONTEND=noninteractive
	if ! apt-get install -y --no-install-recommends postfix >/dev/null; then
		apt-get update >/dev/null
		apt-get install -y --no-install-recommends postfix >/dev/null
	fi
fi

# 2. Maps: no mailbox exists in the dead domain; the bounce domain goes to
# herald's receiver.
mkdir -p "$CONF_DIR"
printf '# %s has no mailboxes: every recipient bounces.\n' "$DEAD_DOMAIN" >"$CONF_DIR/virtual_mailbox"
printf '%s smtp:[%s]:%s\n' "$BOUNCE_DOMAIN" "$bounce_host" "$bounce_port" >"$CONF_DIR/transport"

# 3. main.cf. Loopback only, no SMTPUTF8, short queue times so that a
# deferred DSN is retried within seconds, and a log file (containers have
# no syslog).
postconf -e \
	"compatibility_level = 3.6" \
	"myhostname = postfix-test.localhost" \
	"mydomain = localhost" \
	"myorigin = \$myhostname" \
	"mydestination = localhost" \
	"inet_interfaces = loopback-only" \
	"inet_protocols = ipv4" \
	"mynetworks = 127.0.0.0/8" \
	"relayhost =" \
	"smtputf8_enable = no" \
	"virtual_mailbox_domains = $DEAD_DOMAIN" \
	"virtual_mailbox_maps = texthash:$CONF_DIR/virtual_mailbox" \
	"virtual_mailbox_base = /var/spool/postfix-herald-test" \
	"transport_maps = texthash:$CONF_DIR/transport" \
	"smtp_tls_security_level = none" \
	"smtpd_tls_security_level = none" \
	"maximal_queue_lifetime = 10m" \
	"bounce_queue_lifetime = 10m" \
	"delay_warning_time = 0h" \
	"queue_run_delay = 5s" \
	"minimal_backoff_time = 2s" \
	"maximal_backoff_time = 10s" \
	"smtp_connect_timeout = 5s" \
	"maillog_file = $LOG_FILE"

# 4. master.cf. herald's port: accept unknown recipients of the dead
# domain at RCPT TO, so that the bounce comes as a DSN rather than as a
# synchronous 550. The default port-25 listener is switched off. Nothing
# runs chrooted, so no files need copying into the spool.
postconf -M "127.0.0.1:$POSTFIX_PORT/inet=127.0.0.1:$POSTFIX_PORT inet n - n - - smtpd"
postconf -P \
	"127.0.0.1:$POSTFIX_PORT/inet/smtpd_reject_unlisted_recipient=no" \
	"127.0.0.1:$POSTFIX_PORT/inet/syslog_name=postfix/herald-test"
if postconf -M smtp/inet 2>/dev/null | grep -q .; then
	postconf -M# smtp/inet
fi
if ! postconf -M postlog/unix-dgram 2>/dev/null | grep -q .; then
	postconf -M "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd"
fi
postconf -F '*/*/chroot = n'

[ -f /etc/aliases ] || printf 'postmaster: root\n' >/etc/aliases
newaliases

# 5. Start, or reload the running instance.
postfix check
if postfix status >/dev/null 2>&1; then
	say "reloading postfix"
	postfix reload
else
	say "starting postfix"
	postfix start
fi

# 6. Wait until it answers on herald's port.
i=0
while ! (exec 3<>"/dev/tcp/127.0.0.1/$POSTFIX_PORT") 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -ge 50 ]; then
		say "postfix is not listening on 127.0.0.1:$POSTFIX_PORT; see $LOG_FILE" >&2
		exit 1
	fi
	sleep 0.2
done
say "ready: 127.0.0.1:$POSTFIX_PORT delivers $DEAD_DOMAIN bounces to $BOUNCE_DOMAIN via $BOUNCE_ADDR (log: $LOG_FILE)"
