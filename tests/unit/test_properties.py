import pytest

from arda_mail.properties import InvalidPropertiesError, PropertyReader, is_loopback_host
from arda_mail.reasons import MAX_REASON_LENGTH

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:Alpha002-dev-I-EmailPostmarkAccountToken-AbCdEf"


def test_reads_typed_values():
    r = PropertyReader(
        {"A": "dev.ardamails.com", "B": "true", "N": "30", "L": ["x", "y"], "S": ARN, "ServiceToken": "t"},
        allowed={"A", "B", "N", "L", "S"},
    )
    assert r.domain("A", required=True) == "dev.ardamails.com"
    assert r.boolean("B", False) is True
    assert r.integer("N", 1, minimum=1, maximum=60) == 30
    assert r.string_list("L") == ["x", "y"]
    assert r.secret_arn("S", required=True) == ARN
    r.raise_if_invalid()


def test_collects_every_problem_into_one_reason():
    r = PropertyReader(
        {"A": "Dev.Example.com.", "B": "yes", "N": "x", "M": "999", "L": "a", "S": "token", "R": "role", "Z": "1"},
        allowed={"A", "B", "N", "M", "L", "S", "R"},
    )
    r.domain("A", required=True)
    r.boolean("B", False)
    r.integer("N", 1, minimum=1, maximum=60)
    r.integer("M", 1, minimum=1, maximum=60)
    r.string_list("L")
    r.secret_arn("S")
    r.role_arn("R")
    r.string("Q", required=True)
    with pytest.raises(InvalidPropertiesError) as err:
        r.raise_if_invalid()
    assert str(err.value).startswith("Invalid properties: unknown property Z; ")
    assert len(str(err.value)) <= MAX_REASON_LENGTH
    message = "; ".join(r.problems)
    for fragment in (
        "unknown property Z",
        "'Dev.Example.com.' must not end with a dot",
        'B must be "true" or "false"',
        "N must be a whole number",
        "M must be between 1 and 60",
        "L must be a list",
        "S must be a Secrets Manager secret ARN",
        "R must be an IAM role ARN",
        "Q is required",
    ):
        assert fragment in message


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("https://api.postmarkapp.com", True),
        ("https://api.postmarkapp.com/", True),
        ("http://127.0.0.1:8080", True),
        ("http://localhost:1", True),
        ("http://[::1]:9", True),
        ("http://api.postmarkapp.com", False),
        ("http://10.0.0.1", False),
        ("ftp://x", False),
        ("https://user:pw@api.postmarkapp.com", False),
        ("https://api.postmarkapp.com?x=1", False),
        ("not a url", False),
    ],
)
def test_api_url(url, ok):
    r = PropertyReader({"ApiUrl": url}, allowed={"ApiUrl"})
    value = r.api_url("ApiUrl", "https://api.postmarkapp.com")
    assert (not r.problems) is ok
    if ok:
        assert not value.endswith("/")


def test_defaults_and_empty_strings():
    r = PropertyReader({"A": ""}, allowed={"A"})
    assert r.string("A", "d") == "d"
    assert r.boolean("B", True) is True
    assert r.integer("N", 7, minimum=1, maximum=9) == 7
    assert r.string_list("L") == []
    r.raise_if_invalid()


def test_loopback_hosts():
    assert is_loopback_host("127.0.0.2")
    assert not is_loopback_host("example.com")


def test_long_reasons_keep_their_start_and_count_the_rest():
    from arda_mail.properties import summarise

    problems = [f"Property{i} must be a very specific thing that takes a while to explain properly" for i in range(6)]
    text = summarise(problems)
    assert len(text) <= MAX_REASON_LENGTH
    assert text.startswith("Invalid properties: Property0 must be")
    assert text.endswith(" more)")
    shown = text.count("must be")
    assert f"(+{6 - shown} more)" in text
    single = summarise(["x" * 400])
    assert len(single) <= MAX_REASON_LENGTH
    assert single.startswith("Invalid properties: xxx")
    assert summarise(["a", "b"]) == "Invalid properties: a; b"


def test_reader_raises_the_summarised_reason():
    r = PropertyReader({f"Unknown{i}": "x" for i in range(40)}, allowed=set())
    for i in range(10):
        r.string(f"Missing{i}", required=True)
    with pytest.raises(InvalidPropertiesError) as err:
        r.raise_if_invalid()
    assert len(str(err.value)) <= MAX_REASON_LENGTH
    assert str(err.value).startswith("Invalid properties: unknown properties Unknown0")


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254",
        "https://[fd00:ec2::254]",
        "https://0xa9fea9fe",
        "https://2852039166",
        "https://api.postmarkapp.com.attacker.example",
        "https://API.POSTMARKAPP.COM:444",
        "https://api.postmarkapp.com/v2",
        "https://api.postmarkapp.com:99999",
        "https://api.postmarkapp.com\n",
        "http://127.0.0.1:8080@attacker.example",
    ],
)
def test_api_url_accepts_no_host_but_postmarks_api_and_loopback(url):
    r = PropertyReader({"ApiUrl": url}, allowed={"ApiUrl"})
    assert r.api_url("ApiUrl", "https://api.postmarkapp.com") == "https://api.postmarkapp.com"
    assert len(r.problems) == 1
    assert "attacker" not in r.problems[0], "the value is never echoed"


@pytest.mark.parametrize("value", ["dev.ardamails.com\n", "dev.ardamails.com\r\n", "\ndev.ardamails.com"])
def test_a_trailing_or_leading_newline_is_not_a_host_name(value):
    r = PropertyReader({"DomainName": value}, allowed={"DomainName"})
    r.domain("DomainName", required=True)
    assert r.problems


@pytest.mark.parametrize(
    ("method", "value"),
    [
        ("secret_arn", "arn:aws:secretsmanager:us-east-1:123456789012:secret:x-AbCdEf\n"),
        ("role_arn", "arn:aws:iam::123456789012:role/r\n"),
    ],
)
def test_arns_with_a_trailing_newline_are_refused(method, value):
    r = PropertyReader({"X": value}, allowed={"X"})
    getattr(r, method)("X")
    assert r.problems


def test_secret_arns_are_checked_against_the_functions_account_and_region():
    context = type("Context", (), {"invoked_function_arn": "arn:aws:lambda:eu-west-1:111111111111:function:f"})()
    cases = {
        "arn:aws:secretsmanager:eu-west-1:111111111111:secret:x-AbCdEf": None,
        "arn:aws:secretsmanager:us-east-1:111111111111:secret:x-AbCdEf": "is in region us-east-1",
        "arn:aws:secretsmanager:eu-west-1:222222222222:secret:x-AbCdEf": "is in account 222222222222",
    }
    for arn, expected in cases.items():
        r = PropertyReader({"S": arn}, allowed={"S"}, context=context)
        r.secret_arn("S")
        assert (expected is None and not r.problems) or (expected and expected in r.problems[0])


def test_whole_numbers_are_bounded_before_they_are_parsed():
    r = PropertyReader({"N": "9" * 5000}, allowed={"N"})
    assert r.integer("N", 1, minimum=0, maximum=10) == 1
    assert r.problems == ("N must be a whole number of at most 19 digits",)


def test_a_delete_reader_accepts_properties_it_does_not_know():
    r = PropertyReader({"Future": "x", "ServiceToken": "arn"}, allowed=None)
    assert r.problems == ()
