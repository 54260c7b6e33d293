"""Where messages go: an SMTP relay named by `ARSHJUL_SMTP_URL`, or `.eml` files.

SMTP replies are read the way RFC 5321 means them: a 4xx reply, a dropped connection
or a timeout is transient (`TryLater`), a 5xx reply to the mail transaction is
permanent (`Rejected`), and so is a relay without SMTPUTF8 for a non-ASCII address.
Failures to connect, to start TLS or to log in are an outage or our configuration's
fault, not the message's (`RelayDown`): the rows wait for the relay to be fixed,
without using up their tries, instead of all failing at once.

Credentials come only from the environment (inside the URL, percent-encoded).
"""

from __future__ import annotations

import abc
import contextlib
import math
import os
import re
import socket
import tempfile
import urllib.parse
from collections.abc import Mapping
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

from cycle.encoding import require_utf8
from cycle.errors import BadInput
from notifications.errors import Rejected, RelayDown, TryLater, UnsafeHeader
from notifications.mail import address, header_text, require_sender

DEFAULT_SENDER = "arshjul@localhost"
MAILBOX = re.compile(r"\s*([^<>\"]*?)\s*<([^<>]*)>\s*")  # Name <addr>, the name not quoted
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
SMTP_PARAMETERS = ("starttls", "timeout")
TRUE, FALSE = ("1", "true", "yes"), ("0", "false", "no")
SMTP_TIMEOUT_SECONDS = 30.0
CUT_OFF = "took too long: the send was given up before this sender's lease on the message ran out"


class Transport(abc.ABC):
    """Takes one message for one recipient, or raises TryLater / Rejected."""

    # The longest one step of a send may wait for a server (an answer, a connect), in seconds; 0 for a transport
    # that waits for none. Delivery holds a lease on a message for at least a few times this (`outbox.require_lease`).
    answer_timeout: float = 0.0

    def __init__(self, sender: Address):
        self.sender = sender

    @abc.abstractmethod
    def send(self, msg: EmailMessage, to: str) -> None: ...

    @abc.abstractmethod
    def describe(self) -> str: ...

    def close(self) -> None:
        """Release any connection; the transport reconnects when used again."""
        return None

    def abort(self) -> None:
        """Cut a send under way short, called from another thread: it then fails at once with TryLater (or
        RelayDown). Delivery calls it when a send would otherwise outlast its lease on the message."""
        return None

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


class FileTransport(Transport):
    """Writes each message as `<folder>/<Message-ID>.eml`: a resend overwrites the same file."""

    def __init__(self, folder: Path, sender: Address):
        super().__init__(sender)
        self.folder = Path(folder)

    def describe(self) -> str:
        return f".eml files in {self.folder}"

    def path_for(self, msg: EmailMessage) -> Path:
        ident = str(msg["Message-ID"]).strip("<> ")
        return self.folder / (ident.replace("@", "_at_").replace("/", "_") + ".eml")

    def send(self, msg: EmailMessage, to: str) -> None:
        target, aside = self.path_for(msg), None
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            # Write aside and rename, so a reader never sees half a message.
            with tempfile.NamedTemporaryFile("wb", dir=self.folder, suffix=".tmp", delete=False) as out:
                aside = Path(out.name)
                out.write(msg.as_bytes())
            os.replace(aside, target)
        except OSError as err:
            if aside is not None:  # a full disk or a blocked target must not leave half a message behind
                with contextlib.suppress(OSError):
                    aside.unlink()
            raise RelayDown(f"cannot write {target}: {err}") from err


class SmtpTransport(Transport):
    """One connection per transport, opened on first use and reopened after any error.

    `timeout` bounds each wait for the server (connect, each answer); `abort` cuts a whole send short.
    """

    def __init__(self, host: str, port: int, sender: Address, *, tls: str = "none", username: str | None = None,
                 password: str | None = None, timeout: float = SMTP_TIMEOUT_SECONDS, ssl_context=None):  # fmt: skip
        super().__init__(sender)
        self.host, self.port, self.tls = host, port, tls  # tls: none, starttls or implicit
        self.username, self.password, self.timeout = username, password, timeout
        self.answer_timeout = timeout
        self.ssl_context = ssl_context
        self._smtp = None  # the connection, once greeted
        self._wire = None  # the connection in use, greeted or not: what `abort` shuts down
        self._cut = False

    def describe(self) -> str:
        scheme = "smtps" if self.tls == "implicit" else "smtp"
        extra = " with STARTTLS" if self.tls == "starttls" else ""
        login = f", login as {self.username}" if self.username else ""
        return f"SMTP {scheme}://{self.host}:{self.port}{extra}{login}"

    def send(self, msg: EmailMessage, to: str) -> None:
        import smtplib

        self._cut = False
        smtp = self._connection()
        try:
            smtp.send_message(msg, from_addr=self.sender.addr_spec, to_addrs=[to])
        except smtplib.SMTPNotSupportedError as err:
            # Raised before MAIL FROM, so the connection stays good for the next message;
            # this relay will never take these addresses, however often asked.
            needs = " and ".join(a for a in (self.sender.addr_spec, to) if not a.isascii())
            raise Rejected(f"the SMTP server {self.host}:{self.port} does not offer SMTPUTF8, which the address "
                           f"{needs} needs") from err  # fmt: skip
        except smtplib.SMTPRecipientsRefused as err:
            self.close()
            code, text = next(iter(err.recipients.values()))
            raise _by_code(code, text, f"the server refused the recipient {to}") from err
        except smtplib.SMTPResponseException as err:
            self.close()
            raise _by_code(err.smtp_code, err.smtp_error, "the server refused the message") from err
        except (smtplib.SMTPException, OSError) as err:  # dropped connection, timeout, reset
            self.close()
            if self._cut:
                raise TryLater(f"the SMTP server {self.host}:{self.port} {CUT_OFF}") from err
            raise TryLater(f"the connection to {self.host}:{self.port} failed: {_said(err)}") from err

    def abort(self) -> None:
        """Shut the connection in use down (from another thread), so that the send waiting on it fails at once.

        A connect under way is not cut short (it ends within `timeout`); delivery calls this again until the
        send has ended. Not `close()`: that would write QUIT on a socket another thread is using.
        """
        self._cut = True
        sock = getattr(self._wire, "sock", None)
        if sock is not None:
            with contextlib.suppress(OSError):  # already closed
                socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain socket's, under TLS too

    def _connection(self):
        # A relay drops idle connections; find out before handing it a message.
        if self._smtp is not None and not _alive(self._smtp):
            self.close()
        if self._smtp is None:
            self._smtp = self._connect()
        return self._smtp

    def _connect(self):
        import smtplib
        import ssl

        context = self.ssl_context or ssl.create_default_context()
        # Made unconnected, so that `abort` can reach it while it connects and is greeted.
        if self.tls == "implicit":
            smtp = smtplib.SMTP_SSL(timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(timeout=self.timeout)
        smtp._host = self.host  # the name TLS checks the certificate against, as SMTP(host) sets it
        self._wire = smtp
        try:
            code, said = smtp.connect(self.host, self.port)
            if code != 220:
                raise smtplib.SMTPConnectError(code, said)
        except OSError as err:  # smtplib's and ssl's errors are OSErrors too
            smtp.close()
            raise self._down(err, reached=isinstance(err, (smtplib.SMTPException, ssl.SSLError))) from err
        try:
            self._greet(smtp, context)
        except BaseException as err:
            smtp.close()
            if isinstance(err, OSError):
                raise self._down(err, reached=True) from err
            raise
        return smtp

    def _down(self, err: OSError, reached: bool) -> RelayDown:
        if self._cut:
            return RelayDown(f"the SMTP server {self.host}:{self.port} {CUT_OFF}")
        # Refused, timed out, no route, no such host: the relay said nothing, and the operator should know.
        if not reached:
            return RelayDown(f"the SMTP server {self.host}:{self.port} was unreachable: {_said(err)}")
        return RelayDown(f"cannot use the SMTP server {self.host}:{self.port}: {_said(err)}")

    def _greet(self, smtp, context) -> None:
        smtp.ehlo_or_helo_if_needed()
        if self.tls == "starttls":
            smtp.starttls(context=context)
            smtp.ehlo()
        if self.username:
            smtp.login(self.username, self.password or "")

    def close(self) -> None:
        smtp, self._smtp, self._wire = self._smtp, None, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except Exception:  # the connection may already be gone; closing is all that is left
            smtp.close()


def _alive(smtp) -> bool:
    try:
        return smtp.noop()[0] == 250
    except Exception:  # any failure means the same: open a new connection
        return False


def _said(err: Exception) -> str:
    code, text = getattr(err, "smtp_code", None), getattr(err, "smtp_error", None)
    if code is None:
        return str(err) or type(err).__name__
    return f"{code} {_text(text)}"


def _text(text) -> str:
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)).replace("\n", " ")


def _by_code(code: int, text, what: str) -> TryLater | Rejected:
    """RFC 5321: 4yz is a transient failure, 5yz a permanent one."""
    said = f"{what}: {code} {_text(text)}"
    if 500 <= code < 600:
        return Rejected(said)
    return TryLater(said)


# --- configuration ---------------------------------------------------------------


def sender_from(value: str | None) -> Address:
    """`ARSHJUL_MAIL_FROM`: `addr@domain` or `Name <addr@domain>`; a non-ASCII domain in its IDNA form.

    The IDNA form (RFC 5890) serves the From header, the Message-ID and the envelope alike:
    our own address then never makes a message need SMTPUTF8 (RFC 6531), so any relay takes it.
    The name goes out as the recipients' names do, and is refused now if it would not reach them unchanged.
    """
    value = require_utf8(value or DEFAULT_SENDER, "ARSHJUL_MAIL_FROM")
    try:
        # Checked whole first: parseaddr would quietly fold a line break away.
        header_text(value, "the sender")
        name, addr = _name_and_address(value)
        return require_sender(address(name or "arshjul", addr, "sender"))
    except UnsafeHeader as err:
        raise BadInput(f"ARSHJUL_MAIL_FROM: {err.message}") from err


def _name_and_address(value: str) -> tuple[str, str]:
    """`Name <addr>` with the name as written, commas and colons too (`Årshjulet för Ånge kommun, ekonomiavdelningen
    <…>`, which RFC 5322 would read as two addresses); a quoted name or a bare address as RFC 5322 reads it."""
    written = MAILBOX.fullmatch(value)
    return (written[1], written[2]) if written else parseaddr(value)


def transport_from_env(environ: Mapping[str, str], mail_dir: str | Path) -> Transport:
    """SMTP when `ARSHJUL_SMTP_URL` is set, else `.eml` files in `mail_dir`."""
    sender = sender_from(environ.get("ARSHJUL_MAIL_FROM"))
    url = environ.get("ARSHJUL_SMTP_URL")
    if not url:
        return FileTransport(Path(mail_dir), sender)
    return smtp_from_url(url, sender)


def smtp_from_url(url: str, sender: Address) -> SmtpTransport:
    """`smtp://[user:pass@]host:port[?starttls=true]` or `smtps://…` (implicit TLS)."""
    require_utf8(url, "ARSHJUL_SMTP_URL", secret=True)  # the URL may hold a password
    scheme, sep, rest = url.partition("://")  # never echo a password, even one that ends the host early
    shown = scheme + sep + rest.rpartition("@")[2] if sep else url.rpartition("@")[2]
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:  # an IPv6 address without its ']'
        raise BadInput(f"ARSHJUL_SMTP_URL '{shown}': {err}") from err
    if parts.scheme not in DEFAULT_PORTS or not parts.hostname:
        raise BadInput(f"ARSHJUL_SMTP_URL '{shown}' is not smtp://[user:pass@]host:port or smtps://…")
    if "@" in url and "@" not in parts.netloc:  # a bare '/', '?' or '#' in the password cut the URL short
        raise BadInput(f"ARSHJUL_SMTP_URL '{shown}': percent-encode '/', '?' and '#' in the user name and password")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    try:
        starttls = _starttls(parts.scheme, query)
        port = _port(parts) or (587 if starttls else DEFAULT_PORTS[parts.scheme])
        timeout = float(query.get("timeout", [SMTP_TIMEOUT_SECONDS])[-1])
        if not 0 < timeout < math.inf:  # socket refuses 0, negatives, nan and inf only when it connects
            raise ValueError(f"the timeout must be a finite number of seconds above 0, not {timeout}")
        parts.hostname.encode("idna")  # as the socket will, so a bad host name is told now (UnicodeError)
    except ValueError as err:
        raise BadInput(f"ARSHJUL_SMTP_URL '{shown}': {err}") from err
    tls = "implicit" if parts.scheme == "smtps" else ("starttls" if starttls else "none")
    username = urllib.parse.unquote(parts.username) if parts.username else None
    password = urllib.parse.unquote(parts.password) if parts.password else None
    return SmtpTransport(parts.hostname, port, sender, tls=tls, username=username, password=password,
                         timeout=timeout)  # fmt: skip


def _starttls(scheme: str, query: dict[str, list[str]]) -> bool:
    """`?starttls=true|false`; any other parameter is refused, not ignored (`?tls=yes` would send in clear text)."""
    unknown = sorted(set(query) - set(SMTP_PARAMETERS))
    if unknown:
        raise ValueError(f"unknown parameter {', '.join(unknown)}: it takes {' and '.join(SMTP_PARAMETERS)}")
    said = query.get("starttls", ["false"])[-1]
    if said.lower() not in TRUE + FALSE:
        raise ValueError(f"starttls is true or false, not '{said}'")
    if scheme == "smtps" and "starttls" in query:
        raise ValueError(f"smtps:// is TLS from the start; ?starttls={said} is for smtp://")
    return said.lower() in TRUE


def _port(parts: urllib.parse.SplitResult) -> int | None:
    """The port written in the URL, None if none is; 0 and above 65535 refused (socket would take 0 as 'any')."""
    try:
        port = parts.port
    except ValueError:  # not a number, or out of range: say which
        written = parts.netloc.rpartition(":")[2]
        if not re.fullmatch("[0-9]+", written):
            raise
        port = int(written)
    if port is not None and not 1 <= port <= 65535:
        raise ValueError(f"the port {port} is not between 1 and 65535")
    return port
