"""The emulator's rotation variants where Postmark's documentation is silent or inconsistent
(docs/postmark-emulator.md, "DKIM"): the spelling of the active key's field in the ``rotatedkim`` answer, when
``SafeToRemoveRevokedKeyFromDNS`` turns true, and whether a revoked key stays reported once it is safe."""

from __future__ import annotations

import pytest
import requests
from support.postmark import (  # noqa: F401 - the *_fixture imports register the fixtures
    NON_PROD,
    make_emulator_fixture,
    postmark_tokens_fixture,
)

#: A loopback request answers in milliseconds; this only guards against a hang on a busy machine.
TIMEOUT_S = 10


def _call(emulator, method, path):
    headers = {
        "Accept": "application/json",
        "Content-Type": "application/json",
        "X-Postmark-Account-Token": emulator.token_for(NON_PROD),
    }
    return requests.request(method, emulator.url + path, headers=headers, timeout=TIMEOUT_S)


def _rotated_and_activated(emulator):
    """A verified domain, rotated, its new key published and verified: the old key is now revoked."""
    domain = emulator.add_domain(NON_PROD, "dev.example.com", dkim_verified=True)
    rotated = _call(emulator, "POST", f"/domains/{domain['ID']}/rotatedkim")
    assert rotated.status_code == 200, rotated.text
    pending = emulator.domain(domain["ID"])
    emulator.dns.publish_txt(pending["DKIMPendingHost"], pending["DKIMPendingTextValue"])
    done = _call(emulator, "PUT", f"/domains/{domain['ID']}/verifyDkim").json()
    assert done["DKIMRevokedHost"] == domain["DKIMHost"]
    return domain, rotated.json(), done


@pytest.mark.parametrize("key", ["DKIMTextValue", "DKIMTestValue"])
def test_the_rotate_answer_spells_the_active_value_as_configured(make_emulator, key):
    emulator = make_emulator(rotate_text_value_key=key)
    domain, rotated, _ = _rotated_and_activated(emulator)
    assert rotated[key] == domain["DKIMTextValue"]
    other = {"DKIMTextValue", "DKIMTestValue"} - {key}
    assert not other & set(rotated)


def test_an_unknown_spelling_is_refused(make_emulator):
    with pytest.raises(ValueError, match="rotate_text_value_key"):
        make_emulator(rotate_text_value_key="DKIMValue")


@pytest.mark.parametrize("at_activation", [False, True])
def test_safe_to_remove_at_activation_or_later(make_emulator, at_activation):
    emulator = make_emulator(revoked_safe_at_activation=at_activation)
    domain, _, done = _rotated_and_activated(emulator)
    assert done["SafeToRemoveRevokedKeyFromDNS"] is at_activation
    answer = requests.post(f"{emulator.url}/__emulator/domains/{domain['ID']}/revoke-safe", timeout=TIMEOUT_S)
    assert answer.json()["SafeToRemoveRevokedKeyFromDNS"] is True


def test_a_revoked_key_can_stop_being_reported(make_emulator):
    emulator = make_emulator()
    domain, _, _ = _rotated_and_activated(emulator)
    url = f"{emulator.url}/__emulator/domains/{domain['ID']}/revoke-safe"
    answer = requests.post(url, json={"forget": True}, timeout=TIMEOUT_S).json()
    assert (answer["DKIMRevokedHost"], answer["DKIMRevokedTextValue"]) == ("", "")
    assert answer["SafeToRemoveRevokedKeyFromDNS"] is False


def test_the_variants_are_settings(make_emulator):
    emulator = make_emulator()
    answer = requests.put(
        f"{emulator.url}/__emulator/settings",
        json={"rotate_text_value_key": "DKIMTestValue", "revoked_safe_at_activation": True},
        timeout=TIMEOUT_S,
    ).json()
    assert (answer["rotate_text_value_key"], answer["revoked_safe_at_activation"]) == ("DKIMTestValue", True)
    bad = requests.put(f"{emulator.url}/__emulator/settings", json={"rotate_text_value_key": "x"}, timeout=TIMEOUT_S)
    assert bad.status_code == 400
