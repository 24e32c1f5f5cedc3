from support import secret_scan


def test_scanner_finds_a_registered_secret_and_nothing_else():
    secret_scan.register("scan-self-test-token-5f1c")
    assert secret_scan.find_secrets("prefix scan-self-test-token-5f1c suffix") == ["scan-self-test-token-5f1c"]
    assert secret_scan.find_secrets("nothing to see") == []
