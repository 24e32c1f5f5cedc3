import pytest
from hypothesis import given
from hypothesis import strategies as st

from arda_mail.txt_records import route53_txt_value, split_txt
from arda_ops.txt_values import joined_txt, parse_route53_txt


def _strings(value):
    return parse_route53_txt(value)


@pytest.mark.parametrize(("length", "chunks"), [(0, 1), (1, 1), (255, 1), (256, 2), (510, 2), (511, 3), (600, 3)])
def test_lengths_split_into_one_record_of_255_octet_strings(length, chunks):
    text = "k" * length
    value = route53_txt_value(text)
    strings = _strings(value)
    assert len(strings) == chunks
    assert all(len(s) <= 255 for s in strings)
    assert "".join(strings) == text
    assert value.startswith('"')
    assert value.endswith('"')


def test_empty_value_is_one_empty_string():
    assert route53_txt_value("") == '""'


def test_600_characters_exact_form():
    text = "a" * 255 + "b" * 255 + "c" * 90
    assert route53_txt_value(text) == f'"{"a" * 255}" "{"b" * 255}" "{"c" * 90}"'


def test_quotes_and_backslashes_are_escaped_and_split_before_escaping():
    text = 'say "hi" \\ bye'
    assert route53_txt_value(text) == '"say \\"hi\\" \\\\ bye"'
    # 255 quotes escape to 510 characters but are still ONE string of 255 octets.
    value = route53_txt_value('"' * 256)
    assert _strings(value) == ['"' * 255, '"']


def test_non_printable_octets_use_octal_escapes():
    assert route53_txt_value("a\tb") == '"a\\011b"'
    assert joined_txt(route53_txt_value("é")) == "é"


def test_dkim_2048_key_shape():
    text = "k=rsa; p=" + "M" * 392
    value = route53_txt_value(text)
    assert value.count('" "') == 1
    assert joined_txt(value) == text


@pytest.mark.parametrize("bad", ["abc", '"unterminated', '"a" b'])
def test_parse_rejects_malformed_values(bad):
    with pytest.raises(ValueError, match=r"TXT value|unterminated"):
        parse_route53_txt(bad)


@given(st.text(max_size=1200))
def test_round_trip(text):
    value = route53_txt_value(text)
    assert joined_txt(value) == text
    assert all(len(chunk) <= 255 for chunk in split_txt(text))
