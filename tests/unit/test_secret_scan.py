from support import secret_scan


def test_scanner_finds_a_registered_secret_and_nothing_else():
    secret_scan.register("scan-self-test-token-5f1c")
    assert secret_scan.find_secrets("prefix scan-self-test-token-5f1c suffix") == ["scan-self-test-token-5f1c"]
    assert secret_scan.find_secrets("nothing to see") == []


def test_a_leaked_secret_fails_the_session(pytester, monkeypatch):
    """The session hook itself: a registered secret in captured output makes pytest exit non-zero."""
    import os
    import sys
    from pathlib import Path

    tests_dir = str(Path(__file__).resolve().parents[1])
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([tests_dir, *sys.path]))
    pytester.makepyfile(
        test_leak="""
        import logging
        from support import secret_scan

        def test_logs_a_secret():
            secret_scan.register("planted-token-4242")
            logging.getLogger("x").warning("token is planted-token-4242")
        """
    )
    result = pytester.runpytest_subprocess("-p", "support.secret_scan", "-p", "no:cacheprovider")
    result.stdout.fnmatch_lines(["*SECRET LEAKED in test_leak.py::test_logs_a_secret (call)*"])
    assert result.ret == 1
    clean = pytester.makepyfile(test_clean="def test_ok():\n    assert 1 + 1 == 2\n")
    assert pytester.runpytest_subprocess("-p", "support.secret_scan", str(clean)).ret == 0
