"""Messages out: the ``Sender`` interface (e-mail through an SMTP server implemented; SMS later)
and how one message becomes an RFC 5322 e-mail (plain text and HTML, an ``.ics`` attachment,
``List-Unsubscribe`` with one-click POST, RFC 8058).

Nothing here reads settings, the database or the clock: the outbox (``scheduler.service.
outbox``) builds a :class:`SmtpSender` from the settings and hands it each claimed message.

>>> sender = SmtpSender(host="localhost", port=8025, tls="none")        # doctest: +SKIP
>>> sender.send(Outgoing(to="pat@example.org", subject="Your appointment", text="...",
...                      html="<p>...</p>", key="notice:1:P01:7"), "desk@example.org")
...                                                                       # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import smtplib
import ssl
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate
from typing import Literal, Protocol

__all__ = ["Attachment", "MailError", "Outgoing", "Sender", "SmtpSender", "build_email",
           "message_id"]

Tls = Literal["none", "starttls", "tls"]


class MailError(Exception):
    """A message that could not be handed over; ``permanent`` when trying again cannot help
    (the server refused the recipient or the message: a 5xx answer)."""

    def __init__(self, message: str, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content_type: str
    """``text/calendar; method=PUBLISH`` and the like: main type, subtype, parameters."""
    data: bytes


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message to one person, as the outbox stored it."""

    to: str
    subject: str
    text: str
    html: str
    key: str
    """The message's idempotency key: its Message-ID is derived from it, so a message sent
    twice (a sender killed after the server took it and before the outbox heard) is one
    message to any receiver that keeps Message-IDs."""
    attachments: tuple[Attachment, ...] = ()
    unsubscribe: str | None = None
    """The one-click unsubscribe URL (RFC 8058): an https URL that takes a POST."""
    headers: dict[str, str] = field(default_factory=dict)


class Sender(Protocol):
    """A way to deliver an :class:`Outgoing` (e-mail now; SMS is another implementation)."""

    channel: str

    def send(self, message: Outgoing, sender: str) -> None:
        """Hand ``message`` over, from ``sender``; MailError when it was not taken."""

    def batch(self) -> AbstractContextManager[object]:
        """Within it, sends may share one connection (a round of the outbox)."""


def message_id(key: str, sender: str) -> str:
    """The Message-ID of the message with idempotency key ``key`` (the same every time).

    >>> message_id("reminder:1:A-0001", "desk@clinic.example.org")[-26:]
    '@chairtime.clinic.example.org>'
    """
    domain = sender.rpartition("@")[2] or "localhost"
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<{digest}@chairtime.{domain}>"


def build_email(message: Outgoing, sender: str) -> EmailMessage:
    """``message`` as an e-mail: a text part and an HTML alternative, then the attachments."""
    email = EmailMessage()
    email["From"] = sender
    email["To"] = message.to
    email["Subject"] = message.subject
    email["Date"] = formatdate(localtime=False, usegmt=True)
    email["Message-ID"] = message_id(message.key, sender)
    email["Auto-Submitted"] = "auto-generated"
    if message.unsubscribe:
        email["List-Unsubscribe"] = f"<{message.unsubscribe}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in message.headers.items():
        email[name] = value
    email.set_content(message.text)
    email.add_alternative(message.html, subtype="html")
    for a in message.attachments:
        main, _, rest = a.content_type.partition("/")
        subtype, *params = (p.strip() for p in rest.split(";"))
        email.add_attachment(a.data, maintype=main, subtype=subtype, filename=a.filename,
                             params=dict(p.split("=", 1) for p in params if "=" in p))
    return email


class SmtpSender:
    """E-mail through an SMTP server: TLS from the first byte (``tls``), upgraded
    (``starttls``) or none (a local relay); signed in when a username is given."""

    channel = "email"

    def __init__(self, host: str, port: int, tls: Tls = "starttls", username: str | None = None,
                 password: str | None = None, timeout: float = 30.0,
                 context: ssl.SSLContext | None = None, helo: str | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.username = username
        self.password = password
        self.timeout = timeout
        self.context = context or ssl.create_default_context()
        self._open: smtplib.SMTP | None = None
        self._batching = False
        self.helo = helo or "localhost"
        """The name this side gives in EHLO (smtplib's default, the host's FQDN, costs a DNS
        look-up per connection): the From address's domain."""

    def _connect(self) -> smtplib.SMTP:
        if self.tls == "tls":
            return smtplib.SMTP_SSL(self.host, self.port, local_hostname=self.helo,
                                    timeout=self.timeout, context=self.context)
        client = smtplib.SMTP(self.host, self.port, local_hostname=self.helo,
                              timeout=self.timeout)
        if self.tls == "starttls":
            client.starttls(context=self.context)
        return client

    @contextmanager
    def batch(self) -> Iterator[object]:
        """Sends within share one connection, opened at the first and closed at the end (one
        that fails is dropped, and the next send opens another)."""
        self._batching = True
        try:
            yield self
        finally:
            self._batching = False
            self._drop()

    def _drop(self) -> None:
        client, self._open = self._open, None
        if client is not None:
            try:
                client.quit()
            except (OSError, smtplib.SMTPException):
                client.close()

    def _client(self) -> smtplib.SMTP:
        if self._open is None:
            client = self._connect()
            self._open = client
            if self.username:
                client.login(self.username, self.password or "")
        return self._open

    def send(self, message: Outgoing, sender: str) -> None:
        try:
            refused = self._client().send_message(build_email(message, sender),
                                                  from_addr=sender, to_addrs=[message.to])
        except smtplib.SMTPResponseException as exc:
            self._drop()
            raise MailError(f"the mail server answered {exc.smtp_code}: "
                            f"{_said(exc.smtp_error)}", permanent=500 <= exc.smtp_code < 600
                            ) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            self._drop()
            codes = [code for code, _ in exc.recipients.values()]
            raise MailError("the mail server refused the recipient",
                            permanent=all(500 <= c < 600 for c in codes)) from exc
        except (OSError, smtplib.SMTPException) as exc:
            self._drop()
            raise MailError(f"the mail server could not be reached: {exc}") from exc
        finally:
            if not self._batching:
                self._drop()
        if refused:
            raise MailError("the mail server refused the recipient", permanent=True)


def _said(text: bytes | str) -> str:
    return (text.decode("utf-8", "replace") if isinstance(text, bytes) else text)[:200]
