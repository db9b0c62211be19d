"""HTTPS at the load balancer: a listener with an ACM certificate is served
over TLS with that certificate (trusted through its CA only), forwards with
X-Forwarded-Proto https, serves a new certificate once the listener names
another; an HTTP listener redirects to it; the seed imports the certificate
`sandbox up` made, once."""

import datetime
import http.client
import ipaddress
import socket
import ssl

import boto3
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import app_container, free_port, register, wait_for
from cruddur_sandbox.seed import ensure_certificate
from test_service import completed, create_service


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def make_ca(cn: str = "sbtest CA"):
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(_name(cn))
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_leaf(ca, cn: str) -> dict:
    ca_key, ca_cert = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(ca_cert.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                                        x509.DNSName("localhost")]), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    return {"Certificate": cert.public_bytes(serialization.Encoding.PEM), "PrivateKey": _pem_key(key),
            "CertificateChain": ca_cert.public_bytes(serialization.Encoding.PEM)}


def trusting(ca) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=ca[1].public_bytes(serialization.Encoding.PEM).decode())


def https_get(port: int, path: str, context: ssl.SSLContext) -> tuple[int, str, dict]:
    conn = http.client.HTTPSConnection("127.0.0.1", port, timeout=5, context=context)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        return resp.status, resp.read().decode(), dict(resp.getheaders())
    finally:
        conn.close()


def served_subject(port: int, context: ssl.SSLContext) -> str:
    """The subject of the certificate the listener serves now (a new connection)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            der = tls.getpeercert(binary_form=True)
    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


def https_answers(port: int, context: ssl.SSLContext):
    try:
        return https_get(port, "/", context)[0] == 200
    except OSError:
        return False


def test_an_https_listener_serves_its_acm_certificate_and_http_redirects_to_it(sandbox, cluster):
    acm = boto3.client("acm", **sandbox.kw)
    ca = make_ca()
    first = acm.import_certificate(**make_leaf(ca, "sbtest-first"))["CertificateArn"]
    second = acm.import_certificate(**make_leaf(ca, "sbtest-second"))["CertificateArn"]
    elb = sandbox.elbv2
    vpc = sandbox.ec2.describe_subnets(SubnetIds=sandbox.subnets[:1])["Subnets"][0]["VpcId"]
    lb = elb.create_load_balancer(Name="sbtest-tls", Subnets=sandbox.subnets[:2], Scheme="internet-facing",
                                  Type="application")["LoadBalancers"][0]
    tg = elb.create_target_group(Name="sbtest-tls-tg", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip",
                                 HealthCheckPath="/cgi-bin/health", HealthCheckIntervalSeconds=2,
                                 HealthCheckTimeoutSeconds=1, HealthyThresholdCount=2)["TargetGroups"][0]
    https_port, http_port = free_port(), free_port()
    https = elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTPS", Port=https_port,
                                Certificates=[{"CertificateArn": first}],
                                SslPolicy="ELBSecurityPolicy-TLS13-1-2-2021-06",
                                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    elb.create_listener(LoadBalancerArn=lb["LoadBalancerArn"], Protocol="HTTP", Port=http_port, DefaultActions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": str(https_port),
                                                "StatusCode": "HTTP_301"}}])
    td = register(sandbox, "sbtest-tls-app", [app_container(sandbox, health=False)])
    dep = create_service(sandbox, cluster, "tlsweb", td, loadBalancers=[
        {"targetGroupArn": tg["TargetGroupArn"], "containerName": "app", "containerPort": 8080}])
    wait_for(lambda: completed(sandbox, cluster, "tlsweb", dep), 60, what="COMPLETED")
    context = trusting(ca)
    wait_for(lambda: https_answers(https_port, context), 10, what="the HTTPS listener")

    assert https_get(https_port, "/", context)[:2] == (200, "version=1\n")
    code, env, _ = https_get(https_port, "/cgi-bin/env", context)
    assert code == 200 and "HTTP_X_FORWARDED_PROTO=https" in env and f"HTTP_X_FORWARDED_PORT={https_port}" in env
    assert served_subject(https_port, context) == "CN=sbtest-first"
    # a client that does not trust the CA refuses the listener
    try:
        https_get(https_port, "/", ssl.create_default_context())
        raise AssertionError("a client without the CA was served")
    except ssl.SSLCertVerificationError:
        pass

    conn = http.client.HTTPConnection("127.0.0.1", http_port, timeout=5)
    conn.request("GET", "/some/page?x=1")
    resp = conn.getresponse()
    assert resp.status == 301
    assert resp.getheader("Location") == f"https://127.0.0.1:{https_port}/some/page?x=1"
    conn.close()

    # another certificate on the same listener: served once the proxy sees it
    elb.modify_listener(ListenerArn=https["Listeners"][0]["ListenerArn"], Certificates=[{"CertificateArn": second}],
                        DefaultActions=[{"Type": "forward", "TargetGroupArn": tg["TargetGroupArn"]}])
    wait_for(lambda: served_subject(https_port, context) == "CN=sbtest-second", 10, what="the new certificate")
    assert https_get(https_port, "/", context)[:2] == (200, "version=1\n")


def test_the_seed_imports_the_load_balancers_certificate_once(sandbox, tmp_path):
    acm = boto3.client("acm", **sandbox.kw)
    leaf = make_leaf(make_ca("sbtest seed CA"), "127.0.0.1")
    for name, key in (("certificate.pem", "Certificate"), ("private-key.pem", "PrivateKey"),
                      ("chain.pem", "CertificateChain")):
        (tmp_path / name).write_bytes(leaf[key])
    assert ensure_certificate(acm, None) is None
    arn = ensure_certificate(acm, str(tmp_path))
    assert ensure_certificate(acm, str(tmp_path)) == arn, "a second seed re-imports under the same ARN"
    described = acm.describe_certificate(CertificateArn=arn)["Certificate"]
    assert described["Status"] == "ISSUED"
    assert "127.0.0.1" in described["SubjectAlternativeNames"]
    tagged = [c for c in acm.list_certificates()["CertificateSummaryList"]
              if {"Key": "cruddur:sandbox", "Value": "load-balancer"}
              in acm.list_tags_for_certificate(CertificateArn=c["CertificateArn"]).get("Tags", [])]
    assert [c["CertificateArn"] for c in tagged] == [arn]
