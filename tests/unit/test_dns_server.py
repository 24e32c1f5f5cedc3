"""The loopback authoritative DNS server, queried over the wire with dnspython."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver
import pytest

from arda_ops.dns_server import (
    AuthoritativeDnsServer,
    RecordsDnsView,
    Route53Records,
    StaticRecords,
    closed_loopback_port,
)

LONG_KEY = "k=rsa; p=" + "A" * 600  # longer than a 4096-bit key: three strings of one record
#: A hang guard, not a latency budget: loopback answers in milliseconds, but a busy 2-core machine can stall a
#: thread for seconds.
HANG_GUARD_S = 10


@pytest.fixture
def records():
    zone = StaticRecords()
    zone.add_zone("mail.test", name_servers=["ns1.mail.test", "ns2.mail.test"])
    zone.set("ns1.mail.test", "A", ["192.0.2.1"])
    zone.set_txt("mail.test", ["v=spf1 -all"])
    zone.set_txt("sel._domainkey.mail.test", [LONG_KEY])
    zone.set("bounce.mail.test", "CNAME", ["pm.mtasv.net"])
    zone.set("mail.test", "MX", ["10 mx1.mail.test", "20 mx2.other.test."])
    zone.set("alias.mail.test", "CNAME", ["mail.test"])
    zone.set("deep.a.b.mail.test", "TXT", ['"x"'])
    # a delegation: the child zone is served elsewhere
    zone.set("child.mail.test", "NS", ["ns1.mail.test", "ns-9.other.test"])
    return zone


@pytest.fixture
def server(records):
    with AuthoritativeDnsServer(records) as running:
        yield running


def ask(server, name, rtype, *, recurse=True, edns=True):
    query = dns.message.make_query(name, rtype, use_edns=0 if edns else False)
    if not recurse:
        query.flags &= ~dns.flags.RD
    response, used_tcp = dns.query.udp_with_fallback(query, "127.0.0.1", timeout=HANG_GUARD_S, port=server.port)
    return response, used_tcp


def resolver(server):
    res = dns.resolver.Resolver(configure=False)
    res.nameservers = ["127.0.0.1"]
    res.port = server.port
    res.lifetime = HANG_GUARD_S
    return res


def test_txt_with_several_strings_is_one_record_joined_by_resolvers(server):
    answer = resolver(server).resolve("sel._domainkey.mail.test", "TXT")
    (record,) = list(answer)
    assert len(record.strings) == 3  # split at 255 octets, inside ONE record
    assert b"".join(record.strings).decode() == LONG_KEY


def test_answers_are_authoritative_and_do_not_offer_recursion(server):
    response, _ = ask(server, "mail.test", "TXT")
    assert response.flags & dns.flags.AA
    assert not response.flags & dns.flags.RA
    assert [r.strings for r in response.answer[0]] == [(b"v=spf1 -all",)]


def test_cname(server):
    answer = resolver(server).resolve("bounce.mail.test", "CNAME")
    assert str(answer.rrset[0].target) == "pm.mtasv.net."


def test_mx_in_route53_form(server):
    """``"<preference> <host>"`` as Route 53 stores it (the DMARC report domain's mail exchangers)."""
    answer = resolver(server).resolve("mail.test", "MX")
    assert sorted((r.preference, str(r.exchange)) for r in answer) == [(10, "mx1.mail.test."), (20, "mx2.other.test.")]


def test_cname_is_followed_inside_the_served_zones(server):
    response, _ = ask(server, "alias.mail.test", "TXT")
    types = [dns.rdatatype.to_text(rrset.rdtype) for rrset in response.answer]
    assert types == ["CNAME", "TXT"]


def test_nxdomain_and_nodata_carry_the_soa(server):
    missing, _ = ask(server, "nope.mail.test", "TXT")
    assert missing.rcode() == dns.rcode.NXDOMAIN
    assert dns.rdatatype.to_text(missing.authority[0].rdtype) == "SOA"
    nodata, _ = ask(server, "bounce.mail.test", "TXT")  # a CNAME-only name asked for TXT answers the CNAME
    assert nodata.rcode() == dns.rcode.NOERROR
    empty, _ = ask(server, "mail.test", "CNAME")
    assert empty.rcode() == dns.rcode.NOERROR
    assert not empty.answer
    assert dns.rdatatype.to_text(empty.authority[0].rdtype) == "SOA"


def test_empty_non_terminal_is_nodata_not_nxdomain(server):
    response, _ = ask(server, "a.b.mail.test", "TXT")
    assert response.rcode() == dns.rcode.NOERROR
    assert not response.answer


def test_delegation_is_a_referral_with_glue(server):
    response, _ = ask(server, "child.mail.test", "NS", recurse=False)
    assert not response.flags & dns.flags.AA
    assert not response.answer
    (ns,) = response.authority
    assert sorted(str(r.target) for r in ns) == ["ns-9.other.test.", "ns1.mail.test."]
    assert [str(r.address) for rrset in response.additional for r in rrset] == ["192.0.2.1"]
    below, _ = ask(server, "www.child.mail.test", "A", recurse=False)  # everything below the cut is referred
    assert below.authority[0].rdtype == dns.rdatatype.NS


def test_outside_the_served_zones_is_refused(server):
    response, _ = ask(server, "example.org", "TXT")
    assert response.rcode() == dns.rcode.REFUSED


def test_big_udp_answer_is_truncated_and_retried_over_tcp(server):
    response, used_tcp = ask(server, "sel._domainkey.mail.test", "TXT", edns=False)
    assert used_tcp
    assert b"".join(response.answer[0][0].strings).decode() == LONG_KEY


def test_changes_are_visible_on_the_next_query_and_queries_are_counted(server, records):
    records.remove("bounce.mail.test", "CNAME")
    response, _ = ask(server, "bounce.mail.test", "CNAME")
    assert response.rcode() == dns.rcode.NXDOMAIN
    assert ("bounce.mail.test", "CNAME") in server.queries


def test_closed_port_gets_no_answer():
    port = closed_loopback_port()
    query = dns.message.make_query("mail.test", "TXT")
    with pytest.raises((dns.exception.Timeout, ConnectionRefusedError)):
        dns.query.udp(query, "127.0.0.1", timeout=0.3, port=port)


def test_route53_records_from_several_accounts(monkeypatch):
    """Every zone every client sees, read live; TXT in Route 53's quoted form; moto's mangled SOA tolerated."""
    import json

    import boto3
    from moto import mock_aws

    from arda_ops.loopback.accounts import PLATFORM_ROOT_ACCOUNT, act_in

    with mock_aws():
        parent = boto3.client("route53", region_name="us-east-1")
        parent_id = parent.create_hosted_zone(Name="parent.test", CallerReference="p")["HostedZone"]["Id"]
        other = act_in(boto3.client("route53", region_name="us-east-1"), PLATFORM_ROOT_ACCOUNT)
        # a zone created by CloudFormation: moto stores its SOA in a mangled form
        cfn = boto3.client("cloudformation", region_name="us-east-1")
        template = {"Resources": {"Zone": {"Type": "AWS::Route53::HostedZone", "Properties": {"Name": "c.test"}}}}
        cfn.create_stack(StackName="zone", TemplateBody=json.dumps(template))
        child_id = other.create_hosted_zone(Name="child.parent.test", CallerReference="c")["HostedZone"]["Id"]
        other.change_resource_record_sets(
            HostedZoneId=child_id,
            ChangeBatch={
                "Changes": [
                    {
                        "Action": "UPSERT",
                        "ResourceRecordSet": {
                            "Name": "child.parent.test",
                            "Type": "TXT",
                            "TTL": 60,
                            "ResourceRecords": [{"Value": '"v=spf1 " "-all"'}],
                        },
                    }
                ]
            },
        )
        provider = Route53Records(parent, other)
        assert sorted(z.name for z in provider.zones()) == ["c.test", "child.parent.test", "parent.test"]
        view = RecordsDnsView(provider)
        assert view.txt_records("child.parent.test") == [["v=spf1 ", "-all"]]
        assert view.cname("child.parent.test") is None
        with AuthoritativeDnsServer(provider) as server:
            answer = resolver(server).resolve("child.parent.test", "TXT")
            assert b"".join(answer.rrset[0].strings) == b"v=spf1 -all"
            missing, _ = ask(server, "nope.c.test", "TXT")
            assert missing.rcode() == dns.rcode.NXDOMAIN
            assert dns.rdatatype.to_text(missing.authority[0].rdtype) == "SOA"
        assert parent_id
