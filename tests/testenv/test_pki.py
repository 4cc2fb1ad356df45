"""Certificates the API server and its clients accept: chained to the CA, right names."""

import datetime
import ipaddress

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from lightkube import KubeConfig

from tidewise.testenv.kubeconfig import write_kubeconfig
from tidewise.testenv.pki import CertificateAuthority

NOW = datetime.datetime(2026, 11, 28, tzinfo=datetime.UTC)


def test_server_certificate_names_loopback_and_the_in_cluster_service():
    authority = CertificateAuthority(NOW)
    cert = x509.load_pem_x509_certificate(authority.server().cert)
    cert.verify_directly_issued_by(authority.cert)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "kubernetes.default.svc" in names.get_values_for_type(x509.DNSName)
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]


def test_client_certificate_carries_user_and_group():
    authority = CertificateAuthority(NOW)
    cert = x509.load_pem_x509_certificate(authority.client("tidewise-admin", "system:masters").cert)
    cert.verify_directly_issued_by(authority.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "tidewise-admin"
    assert cert.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == (
        "system:masters"
    )
    assert cert.not_valid_before_utc < NOW < cert.not_valid_after_utc


def test_kubeconfig_embeds_what_a_client_needs(tmp_path):
    authority = CertificateAuthority(NOW)
    (tmp_path / "ca.crt").write_bytes(authority.pem)
    authority.client("tidewise-admin", "system:masters").write(tmp_path, "admin")
    write_kubeconfig(tmp_path / "kubeconfig", "https://127.0.0.1:6443", tmp_path, "admin")
    config = KubeConfig.from_file(tmp_path / "kubeconfig").get()
    assert config.cluster.server == "https://127.0.0.1:6443"
    assert config.user.client_cert_data and config.user.client_key_data
    assert (tmp_path / "kubeconfig").stat().st_mode & 0o077 == 0
