"""E-mail through a real SMTP server (aiosmtpd, started here, with a certificate made here):
STARTTLS and TLS from the first byte, signing in with the credentials, a server that insists on
TLS refusing a plain connection, and what a message carries (text and HTML, the .ics, one-click
List-Unsubscribe, a Message-ID that the idempotency key decides)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from scheduler.mail import Attachment, MailError, Outgoing, SmtpSender, message_id
from scheduler.settings import Settings
from tests.test_outbox import Inbox, _free_port, html_of, text_of

MESSAGE = Outgoing(to="pat@example.org", subject="Your appointment", text="Monday 09:00\n",
                   html="<p>Monday 09:00</p>", key="reminder:1:A-0001:20261207T0900:48h",
                   unsubscribe="https://calendar.example.org/mail/unsubscribe/" + "t" * 32,
                   attachments=(Attachment("appointment.ics",
                                           "text/calendar; method=PUBLISH; charset=utf-8",
                                           b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n"),))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    folder = tmp_path_factory.mktemp("tls")
    (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (folder / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return folder / "cert.pem", folder / "key.pem"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str,
                  data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        b"clinic", b"s3cret pass")
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def servers(certificate: tuple[Path, Path]) -> Iterator[dict[str, tuple[Inbox, int]]]:
    """One server that insists on STARTTLS and a sign-in, one that speaks TLS from the first
    byte."""
    cert, key = certificate
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    found: dict[str, tuple[Inbox, int]] = {}
    controllers = []
    for kind in ("starttls", "tls"):
        inbox, port = Inbox(), _free_port()
        options: dict[str, Any] = (
            {"tls_context": context, "require_starttls": True, "authenticator": _authenticate,
             "auth_required": True, "auth_require_tls": True} if kind == "starttls"
            else {"ssl_context": context, "authenticator": _authenticate,
                  "auth_required": True,
                  "auth_require_tls": False})  # aiosmtpd's check sees STARTTLS only
        controller = Controller(inbox, hostname="127.0.0.1", port=port,
                                server_hostname="127.0.0.1", **options)
        controller.start()
        controllers.append(controller)
        found[kind] = (inbox, port)
    try:
        yield found
    finally:
        for controller in controllers:
            controller.stop()


def _trusting(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    return context


@pytest.mark.parametrize("tls", ["starttls", "tls"])
def test_a_message_goes_over_tls_signed_in_with_the_credentials(
        servers: dict[str, tuple[Inbox, int]], certificate: tuple[Path, Path], tls: str) -> None:
    inbox, port = servers[tls]
    inbox.take()
    sender = SmtpSender("127.0.0.1", port, tls, "clinic", "s3cret pass",  # type: ignore[arg-type]
                        timeout=10, context=_trusting(certificate[0]))
    sender.send(MESSAGE, "desk@riverside.example.org")
    (got,) = inbox.take()
    assert isinstance(got, EmailMessage)
    assert got["Message-ID"] == message_id(MESSAGE.key, "desk@riverside.example.org")
    assert got["List-Unsubscribe"] == f"<{MESSAGE.unsubscribe}>"
    assert got["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert text_of(got).strip() == "Monday 09:00" and "<p>Monday 09:00</p>" in html_of(got)
    (ics,) = got.iter_attachments()
    assert ics.get_content_type() == "text/calendar" and ics.get_param("method") == "PUBLISH"
    # the wrong password: refused for good (5xx), nothing delivered
    wrong = SmtpSender("127.0.0.1", port, tls, "clinic", "guess",  # type: ignore[arg-type]
                       timeout=10, context=_trusting(certificate[0]))
    with pytest.raises(MailError) as refused:
        wrong.send(MESSAGE, "desk@riverside.example.org")
    assert refused.value.permanent and inbox.take() == []


def test_a_plain_connection_to_a_server_that_insists_on_tls_is_refused(
        servers: dict[str, tuple[Inbox, int]], certificate: tuple[Path, Path]) -> None:
    inbox, port = servers["starttls"]
    plain = SmtpSender("127.0.0.1", port, "none", "clinic", "s3cret pass", timeout=10)
    with pytest.raises(MailError):
        plain.send(MESSAGE, "desk@riverside.example.org")
    # and a certificate nobody vouches for is not believed
    untrusted = SmtpSender("127.0.0.1", port, "starttls", "clinic", "s3cret pass", timeout=10)
    with pytest.raises(MailError, match="could not be reached"):
        untrusted.send(MESSAGE, "desk@riverside.example.org")
    assert inbox.take() == []


def test_the_password_comes_from_the_environment_and_is_never_shown(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHAIRTIME_SMTP_HOST", "mail.example.org")
    monkeypatch.setenv("CHAIRTIME_SMTP_USERNAME", "clinic")
    monkeypatch.setenv("CHAIRTIME_SMTP_PASSWORD", "s3cret pass")
    monkeypatch.setenv("CHAIRTIME_SMTP_TLS", "tls")
    settings = Settings()
    assert settings.smtp_password is not None
    assert settings.smtp_password.get_secret_value() == "s3cret pass"
    assert "s3cret" not in repr(settings) and "s3cret" not in str(settings.model_dump())
    assert settings.smtp_port_in_force == 465
    monkeypatch.setenv("CHAIRTIME_SMTP_TLS", "ssl")
    with pytest.raises(ValueError, match="smtp_tls"):
        Settings()
