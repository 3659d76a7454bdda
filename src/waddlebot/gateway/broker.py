"""The Kong Admin Broker's reconcile: Kong's consumers made equal to WaddleBot's live API keys.

One Kong consumer per live API key that has a sealed copy (see ``kernel/security/key_copies``),
named ``waddlebot-key-<key id>``, with the key as its one ``key-auth`` credential (a TTL up to
the key's expiry, so Kong drops it on time even between passes) and one ACL group per scope.
Consumers with that prefix that match no live key (revoked, expired, deleted, owner
deactivated) are deleted; consumers without the prefix are someone else's and left alone.
Each pass compares and repairs, so it is idempotent and heals any drift (missing, extra or
stale consumers, credentials and groups).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import or_, select

from waddlebot.gateway.kong_admin import KongAdmin
from waddlebot.kernel.security.key_copies import ApiKeyGatewayCopy
from waddlebot.kernel.security.secrets_box import SecretBox, SecretUnreadable
from waddlebot.kernel.storage import Database
from waddlebot.kernel.storage.models import ApiKey, User

CONSUMER_PREFIX = "waddlebot-key-"


@dataclass(frozen=True, slots=True)
class WantedConsumer:
    """What Kong should hold for one live key."""

    username: str
    key: str = field(repr=False)
    groups: frozenset[str]
    expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class Wanted:
    consumers: dict[str, WantedConsumer]
    uncopied: int  # live keys without a sealed copy (created with WADDLEBOT_KONG_CONSUMERS off)
    unreadable: int  # copies no configured encryption key opens


@dataclass(slots=True)
class PassReport:
    """What one reconcile pass changed in Kong."""

    created: int = 0
    repaired: int = 0
    deleted: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.created or self.repaired or self.deleted)


def consumer_name(key_id: str) -> str:
    return CONSUMER_PREFIX + key_id


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def wanted_consumers(db: Database, box: SecretBox, now: datetime) -> Wanted:
    """The consumers Kong should have now: every live key (not revoked, not expired, owner
    active) with its copy opened."""
    live = (
        select(ApiKey, ApiKeyGatewayCopy.key_sealed)
        .outerjoin(ApiKeyGatewayCopy, ApiKeyGatewayCopy.api_key_id == ApiKey.id)
        .outerjoin(User, User.id == ApiKey.user_id)
        .where(
            ApiKey.revoked_at.is_(None),
            or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
            or_(ApiKey.user_id.is_(None), User.is_active.is_(True)),
        )
    )
    consumers: dict[str, WantedConsumer] = {}
    uncopied = unreadable = 0
    async with db.read_session() as session:
        rows = (await session.execute(live)).all()
    for key, sealed in rows:
        if sealed is None:
            uncopied += 1
            continue
        try:
            plaintext = box.unseal(sealed)
        except SecretUnreadable:
            unreadable += 1
            continue
        name = consumer_name(key.id)
        consumers[name] = WantedConsumer(
            username=name,
            key=plaintext,
            groups=frozenset(key.scopes),
            expires_at=_aware(key.expires_at) if key.expires_at else None,
        )
    return Wanted(consumers, uncopied, unreadable)


def _ttl(consumer: WantedConsumer, now: datetime) -> int | None:
    if consumer.expires_at is None:
        return None
    return max(1, math.ceil((consumer.expires_at - now).total_seconds()))


async def _repair(admin: KongAdmin, consumer: WantedConsumer, now: datetime) -> bool:
    """Make one existing consumer's credential and groups right; True when anything changed."""
    changed = False
    credentials = await admin.key_auths(consumer.username)
    if not any(credential.get("key") == consumer.key for credential in credentials):
        await admin.add_key(consumer.username, consumer.key, ttl=_ttl(consumer, now))
        changed = True
    for credential in credentials:
        if credential.get("key") != consumer.key:
            await admin.delete_key(consumer.username, str(credential["id"]))
            changed = True
    groups = await admin.acls(consumer.username)
    held = {str(acl.get("group")) for acl in groups}
    for group in sorted(consumer.groups - held):
        await admin.put_acl(consumer.username, group)
        changed = True
    for acl in groups:
        if acl.get("group") not in consumer.groups:
            await admin.delete_acl(consumer.username, str(acl["id"]))
            changed = True
    return changed


async def reconcile(
    admin: KongAdmin, wanted: dict[str, WantedConsumer], now: datetime
) -> PassReport:
    """One pass: create the missing consumers, repair the existing ones, delete ours that no
    live key wants."""
    report = PassReport()
    ours = {
        str(consumer["username"])
        for consumer in await admin.consumers()
        if str(consumer.get("username") or "").startswith(CONSUMER_PREFIX)
    }
    for username, consumer in sorted(wanted.items()):
        if username not in ours:
            await admin.put_consumer(username)
            await _repair(admin, consumer, now)
            report.created += 1
        elif await _repair(admin, consumer, now):
            report.repaired += 1
        else:
            report.unchanged += 1
    for username in sorted(ours - set(wanted)):
        await admin.delete_consumer(username)
        report.deleted += 1
    return report
