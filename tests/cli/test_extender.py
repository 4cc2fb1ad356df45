"""``tidewise extender serve``: TLS and addresses are checked before anything connects, each
mistake in one line with exit code 2 (the extender against a real cluster is
tests/kube/test_extender_e2e.py)."""

import datetime
import socket

import pytest

from tests.cli.run import tidewise
from tidewise.testenv.pki import CertificateAuthority

pytestmark = pytest.mark.e2e

KUBECONFIG = """apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
"""


def one_line(out) -> str:
    assert out.returncode == 2, out.stderr
    assert "Traceback" not in out.stderr and out.stderr.count("\n") == 1, out.stderr
    return " ".join(out.stderr.split())


def serve(tmp_path, *args):
    (tmp_path / "kubeconfig").write_text(KUBECONFIG)
    return tidewise("extender", "serve", "--kubeconfig", "kubeconfig", *args, cwd=tmp_path)


@pytest.fixture
def pems(tmp_path):
    authority = CertificateAuthority(datetime.datetime.now(datetime.UTC))
    (tmp_path / "ca.crt").write_bytes(authority.pem)
    authority.extender().write(tmp_path, "extender")
    return ("--tls-cert-file", "extender.crt", "--tls-private-key-file", "extender.key")


def test_every_address_but_loopback_needs_tls(tmp_path):
    message = one_line(serve(tmp_path, "--host", "0.0.0.0"))
    assert "--host 0.0.0.0 without TLS lets anyone who reaches it bind any pod" in message


def test_the_three_tls_files_go_together(tmp_path, pems):
    message = one_line(serve(tmp_path, *pems))
    assert "--tls-cert-file, --tls-private-key-file and --client-ca-file go together" in message


def test_a_file_that_is_not_pem_is_one_line(tmp_path, pems):
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    message = one_line(serve(tmp_path, *pems, "--client-ca-file", "notes.txt"))
    assert "give readable PEM files that match" in message


def test_client_names_need_tls(tmp_path):
    message = one_line(serve(tmp_path, "--client-name", "system:kube-scheduler"))
    assert "--client-name checks client certificates" in message


def test_a_port_in_use_is_one_line(tmp_path, pems):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        out = serve(tmp_path, *pems, "--client-ca-file", "ca.crt", "--port", port)
    assert "--host/--port/--health-port:" in one_line(out)
