import pytest

from arda_mail.properties import InvalidPropertiesError, PropertyReader, is_loopback_host

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
    assert len(str(err.value)) <= 240
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
    from arda_mail.properties import MAX_REASON_LENGTH, summarise

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
    assert len(str(err.value)) <= 240
    assert str(err.value).startswith("Invalid properties: unknown properties Unknown0")
