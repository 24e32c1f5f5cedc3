"""Postmark's Account API (``/domains``): models, errors, a small HTTP client and the operations the custom
resources perform on top of it.

Nothing is imported here: :mod:`arda_mail.postmark.models` and :mod:`arda_mail.postmark.errors` stay cheap,
and only :mod:`arda_mail.postmark.client` pays for ``requests``.
"""
