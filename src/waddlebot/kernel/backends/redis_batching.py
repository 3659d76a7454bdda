"""Auto-pipelining for redis-py's asyncio client.

The commands that tasks issue in one turn of the event loop go to Redis together: one write
on one pooled connection, then their replies read back in order, each handed to the task that
asked. A worker with eight events in flight sends their claims, reads and finishes as a few
writes instead of one round trip each, and redis-py's per-command overhead (a pool lock, a
liveness check of the socket, its own bookkeeping) is paid once per batch. When no command is
on its way, one goes straight out as redis-py sends it (batching it alone would cost a task
and two more turns of the loop); those that come while it, or a batch, is on its way are
gathered into the next batch.

Only short, non-blocking commands are batched (``BATCHED``); a blocking read such as
``XREADGROUP … BLOCK`` would hold up every reply behind it, so it keeps its own connection.
Each command still fails on its own: an error reply fails that command only.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from waddlebot.kernel.observability.metrics import REDIS_ROUND_TRIPS

# What the backend sends on its hot paths; none of them blocks on the server.
BATCHED = frozenset(
    {
        "GET",
        "SET",
        "MGET",
        "DEL",
        "UNLINK",
        "PUBLISH",
        "PTTL",
        "ZREM",
        "XLEN",
        "XRANGE",
        "EVALSHA",
        "SCRIPT LOAD",
    }
)

_Queued = tuple[tuple[Any, ...], dict[str, Any], "asyncio.Future[Any]"]


class AutoPipeline:
    """Queues commands and sends each turn's queue as one pipeline (not a transaction)."""

    def __init__(self, client: aioredis.Redis, reply_timeout: float) -> None:
        self._client = client
        self.reply_timeout = reply_timeout
        self._queued: list[_Queued] = []
        self._flushes: set[asyncio.Task[None]] = set()
        self._on_the_way = 0  # commands sent alone and batches, not yet answered

    async def execute(
        self,
        args: tuple[Any, ...],
        options: dict[str, Any],
        alone: Callable[[tuple[Any, ...], dict[str, Any]], Awaitable[Any]],
    ) -> Any:
        """The command's reply: sent ``alone`` when nothing is on its way, else batched."""
        if self._on_the_way:
            return await self.submit(args, options)
        self._on_the_way += 1
        try:
            return await alone(args, options)
        finally:
            self._on_the_way -= 1

    def submit(self, args: tuple[Any, ...], options: dict[str, Any]) -> asyncio.Future[Any]:
        """Queue one command; the future gets its parsed reply (or its error)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._queued.append((args, options, future))
        if len(self._queued) == 1:  # the first of this turn: its flush starts next turn
            self._on_the_way += 1
            flush = loop.create_task(self._flush())
            self._flushes.add(flush)
            flush.add_done_callback(self._flushes.discard)
        return future

    async def close(self) -> None:
        """Stop the batches in flight (their callers get a connection error)."""
        for flush in list(self._flushes):
            flush.cancel()
        if self._flushes:
            await asyncio.gather(*self._flushes, return_exceptions=True)
        _fail(self._queued, _closed())
        self._queued = []

    async def _flush(self) -> None:
        try:
            await self._send(self._take_queued())
        finally:
            self._on_the_way -= 1

    def _take_queued(self) -> list[_Queued]:
        batch, self._queued = self._queued, []
        return [queued for queued in batch if not queued[2].done()]  # timed out meanwhile

    async def _send(self, batch: list[_Queued]) -> None:
        """Write the batch, read its replies in order; every future is settled on return,
        within ``reply_timeout`` (callers wait on their futures without a timeout of their
        own)."""
        if not batch:
            return
        pool = self._client.connection_pool
        connection: Connection | None = None
        read = 0

        async def exchange() -> None:
            nonlocal read
            assert connection is not None
            pending = batch[read:]
            REDIS_ROUND_TRIPS.inc()
            await connection.send_packed_command(connection.pack_commands(q[0] for q in pending))
            for args, options, future in pending:
                try:
                    reply = await self._client.parse_response(connection, args[0], **options)
                except ResponseError as error:
                    if not future.done():
                        future.set_exception(error)
                else:
                    if not future.done():
                        future.set_result(reply)
                read += 1

        async def broken(_error: Exception) -> None:
            assert connection is not None
            await connection.disconnect()

        try:
            async with asyncio.timeout(self.reply_timeout):
                connection = await pool.get_connection()  # type: ignore[no-untyped-call]
                # A dead pooled connection (Redis restarted): reconnect and resend what has
                # no reply yet, under the client's retry policy, as redis-py does per command.
                await connection.retry.call_with_retry(exchange, broken)
        except TimeoutError:
            await self._give_up(connection, batch[read:], no_reply(self.reply_timeout))
        except asyncio.CancelledError:
            await self._give_up(connection, batch[read:], _closed())
            raise
        except Exception as error:
            await self._give_up(connection, batch[read:], error)
        finally:
            if connection is not None:
                await pool.release(connection)

    @staticmethod
    async def _give_up(
        connection: Connection | None, unanswered: list[_Queued], error: BaseException
    ) -> None:
        _fail(unanswered, error)
        if connection is not None:  # its replies were not all read: never use it again
            await connection.disconnect(nowait=True)


def no_reply(timeout: float) -> RedisTimeoutError:
    """What a command, alone or batched, fails with when Redis stays silent."""
    return RedisTimeoutError(f"no reply from Redis within {timeout:g}s")


def _closed() -> RedisConnectionError:
    return RedisConnectionError("the Redis client was closed")


def _fail(batch: list[_Queued], error: BaseException) -> None:
    for _, _, future in batch:
        if not future.done():
            future.set_exception(error)
