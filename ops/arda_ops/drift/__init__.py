"""``runtime-platform-drift``: the runtime platform's drift check (BRIEF section 6, ``docs/drift.md``).

Checks are small pluggable units (:mod:`arda_ops.drift.checks`); the mail units live in
:mod:`arda_ops.drift.mail_checks`. Programmatic entry point: :func:`arda_ops.drift.runner.run_drift`.
Nothing heavy is imported here, so ``--help`` and ``--github-matrix`` stay fast.
"""
