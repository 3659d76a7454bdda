from __future__ import annotations

from waddlebot.sdk import signing


def test_a_signature_verifies_only_for_its_body_secret_and_time() -> None:
    body = b'{"hello":"world"}'
    header = signing.sign("s3cret", body, now=1_000_000)
    assert signing.verify("s3cret", body, header, now=1_000_010)
    assert not signing.verify("other", body, header, now=1_000_010)
    assert not signing.verify("s3cret", body + b" ", header, now=1_000_010)
    assert not signing.verify("s3cret", body, header, now=1_000_000 + signing.TOLERANCE + 1)
    assert not signing.verify("s3cret", body, None)
    assert not signing.verify("s3cret", body, "t=abc,v1=00")
    assert not signing.verify("s3cret", body, "garbage")


def test_module_secrets_differ_per_module_and_installation() -> None:
    assert signing.module_secret("k", "dice") == signing.module_secret("k", "dice")
    assert signing.module_secret("k", "dice") != signing.module_secret("k", "other")
    assert signing.module_secret("k", "dice") != signing.module_secret("k2", "dice")
