"""Idempotent POSTs: one `Idempotency-Key` of one account has one effect and one answer.

The mini-program retries a POST whose answer it did not get (weak mobile networks): the retry must get
the first answer again, never a second application. `idempotent()` claims the (account, key) row and does
the work in ONE transaction:

- the claim is `INSERT … ON CONFLICT (user_id, key) DO UPDATE … RETURNING`. A concurrent request with the
  same key blocks on the unique index (or on the row lock) until the first one commits or rolls back,
  then reads the stored answer: the work runs once, the others replay it, nobody gets a 500;
- the answer is stored before the commit, so a committed row always holds one; if the work fails
  unexpectedly the whole transaction, the row included, rolls back and a retry runs the work again;
- the work's own transaction nests inside (a savepoint), and the claim is always taken before any lock the
  work takes, so two requests never wait on each other in opposite order.

Answers the work itself gives (created, refused, not found) are stored and replayed, as payment APIs do:
a client that wants another attempt sends a new key.
"""

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass

from django.db import connection, transaction
from django.utils import timezone

from shared.accounts.models import User
from shared.errors import CodedError
from shared.models import IdempotencyRecord

HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")


class IdempotencyKeyReused(CodedError):
    def __init__(self) -> None:
        super().__init__(
            "idempotency_key_reused", "该 Idempotency-Key 已用于另一个不同的请求，请换一个新的键"
        )


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict
    replayed: bool = False


def key_is_valid(key: str | None) -> bool:
    return key is not None and KEY_PATTERN.fullmatch(key) is not None


def request_sha256(*, method: str, path: str, data: object) -> str:
    """The fingerprint of a request: method, path and the JSON body, independent of key order and spacing."""
    canonical = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method.upper()} {path}\n{canonical}".encode()).hexdigest()


_CLAIM = """
    INSERT INTO {table} (user_id, key, request_sha256, created_at)
    VALUES (%s, %s, %s, %s)
    ON CONFLICT (user_id, key) DO UPDATE SET key = EXCLUDED.key
    RETURNING id, request_sha256, status_code, response
"""


def idempotent(*, user: User, key: str, fingerprint: str, work: Callable[[], Answer]) -> Answer:
    """Run `work` once for (user, key) and store its answer; replay the stored answer to every retry.

    Preconditions: `key_is_valid(key)`; `work` turns every expected refusal into an `Answer` (an exception
    rolls the claim back with the work). Raises IdempotencyKeyReused when the key was used with a request
    of another fingerprint (nothing is done then).
    """
    table = connection.ops.quote_name(IdempotencyRecord._meta.db_table)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(_CLAIM.format(table=table), [user.pk, key, fingerprint, timezone.now()])
            record_id, stored_sha256, status_code, response = cursor.fetchone()
        if stored_sha256 != fingerprint:
            raise IdempotencyKeyReused
        if status_code is not None:
            body = json.loads(response) if isinstance(response, str) else response
            return Answer(status_code=status_code, body=body, replayed=True)
        answer = work()
        IdempotencyRecord.objects.filter(pk=record_id).update(
            status_code=answer.status_code, response=answer.body
        )
        return answer
