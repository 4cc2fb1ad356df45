"""Certificates and keys for a throw-away control plane, made in Python.

Why: the API server only speaks TLS and authenticates its clients (the controller manager,
the scheduler, kwok, our tests) by client certificate; kubeadm or openssl would be one more
tool to install. ECDSA P-256 keys are used because they are made in microseconds, where RSA
keys take a noticeable share of a test cluster's start-up.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALIDITY = datetime.timedelta(days=7)
# the names a client inside or outside the cluster may use for the API server; 10.96.0.1 is
# the first address of the service range the API server is started with (no traffic goes there)
API_SERVER_NAMES = (
    "localhost",
    "kubernetes",
    "kubernetes.default",
    "kubernetes.default.svc",
    "kubernetes.default.svc.cluster.local",
)
API_SERVER_ADDRESSES = ("127.0.0.1", "10.96.0.1")


@dataclass(frozen=True)
class KeyPair:
    """A certificate and its key, PEM-encoded."""

    cert: bytes
    key: bytes

    def write(self, folder: Path, name: str) -> tuple[Path, Path]:
        """Write ``name.crt`` and ``name.key`` (the key readable by the owner only)."""
        cert, key = folder / f"{name}.crt", folder / f"{name}.key"
        cert.write_bytes(self.cert)
        key.touch(mode=0o600)
        key.write_bytes(self.key)
        return cert, key


def private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def name(common_name: str, organisation: str | None = None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation is not None:
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(attributes)


def certificate(
    subject: x509.Name,
    issuer: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    now: datetime.datetime,
) -> x509.CertificateBuilder:
    """A week-long certificate, back-dated a little so clock skew between processes is harmless."""
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


class CertificateAuthority:
    """A self-signed CA that issues the serving and client certificates of one cluster."""

    def __init__(self, now: datetime.datetime) -> None:
        self.now = now
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = name("tidewise-testenv-ca")
        self.cert = (
            certificate(subject, subject, self.key.public_key(), now)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
                    key_cert_sign=True,
                    crl_sign=True,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(self.key, hashes.SHA256())
        )

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(
        self,
        subject: x509.Name,
        usage: x509.ObjectIdentifier,
        names: tuple[str, ...] = (),
        addresses: tuple[str, ...] = (),
    ) -> KeyPair:
        """A leaf certificate for a server (``SERVER_AUTH``) or a client (``CLIENT_AUTH``)."""
        key = ec.generate_private_key(ec.SECP256R1())
        builder = certificate(subject, self.cert.subject, key.public_key(), self.now)
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        if names or addresses:
            alternatives: list[x509.GeneralName] = [x509.DNSName(n) for n in names]
            alternatives += [x509.IPAddress(ipaddress.ip_address(a)) for a in addresses]
            builder = builder.add_extension(
                x509.SubjectAlternativeName(alternatives), critical=False
            )
        return KeyPair(
            builder.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM),
            private_pem(key),
        )

    def server(self) -> KeyPair:
        return self.issue(
            name("kube-apiserver"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            API_SERVER_NAMES,
            API_SERVER_ADDRESSES,
        )

    def extender(self) -> KeyPair:
        """The GPU-share extender's serving certificate, for loopback."""
        return self.issue(
            name("tidewise-extender"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            ("localhost",),
            ("127.0.0.1",),
        )

    def webhook(self) -> KeyPair:
        """An admission webhook's serving certificate, for loopback: the API server calls it
        by URL on 127.0.0.1 and trusts it through the CA given as the ``caBundle``."""
        return self.issue(
            name("tidewise-webhook"),
            ExtendedKeyUsageOID.SERVER_AUTH,
            ("localhost",),
            ("127.0.0.1",),
        )

    def client(self, user: str, group: str | None = None) -> KeyPair:
        """The API server maps the common name to the user and the organisation to a group."""
        return self.issue(name(user, group), ExtendedKeyUsageOID.CLIENT_AUTH)


def service_account_key() -> tuple[bytes, bytes]:
    """The key pair the API server signs service-account tokens with (private, public PEM)."""
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private_pem(key), public
