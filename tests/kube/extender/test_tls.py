"""HTTPS with client certificates: only a client whose certificate the CA signed (and, if
names are given, one of those names) reaches the verbs."""

import asyncio
import datetime
import ssl

import aiohttp
import pytest
from aiohttp import web

from tests.kube.extender.test_server import cluster_book, extender_over
from tidewise.kube.extender.server import application
from tidewise.kube.extender.tls import ServingTls, TlsFiles, client_names, server_context
from tidewise.testenv.pki import CertificateAuthority

NOW = datetime.datetime.now(datetime.UTC)
AUTHORITY: list[CertificateAuthority] = []  # the module's CA, to issue a renewal from


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, the extender's serving pair, the scheduler's client pair, a stranger's pair (from
    another CA), and a client of the right CA under another name."""
    folder = tmp_path_factory.mktemp("pki")
    authority, other = CertificateAuthority(NOW), CertificateAuthority(NOW)
    AUTHORITY[:] = [authority]
    (folder / "ca.crt").write_bytes(authority.pem)
    (folder / "ca-other.crt").write_bytes(other.pem)
    authority.extender().write(folder, "extender")
    authority.client("system:kube-scheduler").write(folder, "scheduler")
    other.client("system:kube-scheduler").write(folder, "stranger")
    authority.client("someone-else").write(folder, "someone")
    return folder


def client_context(pki, who):
    context = ssl.create_default_context(cafile=pki / "ca.crt")
    if who:
        context.load_cert_chain(pki / f"{who}.crt", pki / f"{who}.key")
    return context


def post_as(pki, clients, accepted=()):
    """Serve the verbs over HTTPS and POST a filter as each client; status or error name."""
    files = TlsFiles(pki / "extender.crt", pki / "extender.key", pki / "ca.crt")

    async def run():
        extender = extender_over(cluster_book(), True, client_names=accepted)
        runner = web.AppRunner(application(extender))
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context(files))
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        answers = []
        try:
            for who in clients:
                body = {"Pod": {"metadata": {}, "spec": {}}, "NodeNames": ["big"]}
                try:
                    async with (
                        aiohttp.ClientSession() as session,
                        session.post(
                            f"https://127.0.0.1:{port}/filter",
                            json=body,
                            ssl=client_context(pki, who),
                        ) as answer,
                    ):
                        answers.append(answer.status)
                except aiohttp.ClientError as error:
                    answers.append(type(error).__name__)
        finally:
            await runner.cleanup()
        return answers

    return asyncio.run(run())


def test_only_a_client_certificate_from_the_ca_gets_an_answer(pki):
    # the server refuses the handshake (TLS 1.3 says so after it: the request fails on the
    # connection, an OSError)
    assert post_as(pki, ["scheduler", "stranger", None]) == [200, "ClientOSError", "ClientOSError"]


def test_accepted_names_narrow_the_clients_further(pki):
    accepted = ("system:kube-scheduler",)
    assert post_as(pki, ["scheduler", "someone"], accepted) == [200, 403]


def test_a_certificate_names_its_common_and_dns_names():
    peer = {
        "subject": ((("organizationName", "x"),), (("commonName", "kube-scheduler"),)),
        "subjectAltName": (("DNS", "scheduler.local"), ("IP Address", "127.0.0.1")),
    }
    assert client_names(peer) == {"kube-scheduler", "scheduler.local"}
    assert client_names(None) == set()


def test_a_renewed_certificate_is_served_without_a_restart(pki, tmp_path):
    """cert-manager renews the Secret, the kubelet swaps the files: new connections get the
    new certificate."""
    for name in ("extender.crt", "extender.key", "ca.crt"):
        (tmp_path / name).write_bytes((pki / name).read_bytes())
    tls = ServingTls(TlsFiles(tmp_path / "extender.crt", tmp_path / "extender.key", pki / "ca.crt"))

    async def serial() -> str:
        server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0, ssl=tls.context)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=client_context(pki, "scheduler"), server_hostname="localhost"
        )
        number = writer.get_extra_info("peercert")["serialNumber"]
        writer.close()
        server.close()
        return number

    before = asyncio.run(serial())
    assert not tls.reload_if_changed() and asyncio.run(serial()) == before
    AUTHORITY[0].extender().write(tmp_path, "extender")  # renewed by the same CA
    assert tls.reload_if_changed()
    assert asyncio.run(serial()) != before
