"""The one place the Dramatiq broker is chosen; import it before any actor.

With `CUSTOS_REDIS_URL` set, messages go through Redis to worker pools on any host.
Without it Custos runs embedded: a stub broker whose workers are threads of the
`custos` process itself. Either way the jobs table, not the queue, is the truth.
"""

from __future__ import annotations

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import CurrentMessage

from storage.config import Settings, get_settings
from workers.errors import BrokerConfigError

QUEUES = ("cpu", "gpu")
SAFE_POLICIES = ("noeviction", "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl")


def check_redis_policy(broker: RedisBroker) -> None:
    """Refuse a Redis that may evict queue keys (they carry no TTL, so only allkeys-* do)."""
    try:
        policy = broker.client.config_get("maxmemory-policy").get("maxmemory-policy", "")
    except Exception as exc:  # noqa: BLE001 - any failure to ask is reported the same way
        raise BrokerConfigError(f"cannot query Redis configuration: {exc}") from exc
    if policy not in SAFE_POLICIES:
        raise BrokerConfigError(
            f"Redis maxmemory-policy is {policy!r}: it may evict queued jobs. "
            "Set `maxmemory-policy noeviction` (redis.conf or CONFIG SET) and restart."
        )


_checked: set[int] = set()


def ensure_safe(active: dramatiq.Broker) -> None:
    """Check a Redis broker's eviction policy once per process before the first send."""
    if isinstance(active, RedisBroker) and id(active) not in _checked:
        check_redis_policy(active)
        _checked.add(id(active))


def make_broker(settings: Settings) -> dramatiq.Broker:
    if settings.redis_url:
        broker: dramatiq.Broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=settings.redis_url,
            namespace="custos",
            heartbeat_timeout=int(settings.worker_heartbeat_s * 1000),
            maintenance_chance=settings.redis_maintenance_chance,
        )
    else:
        broker = StubBroker()
    broker.add_middleware(CurrentMessage())
    for queue in QUEUES:
        broker.declare_queue(queue)
    return broker


def use_broker(broker: dramatiq.Broker) -> None:
    """Make `broker` the global one and move every declared actor onto it (test seam)."""
    old = dramatiq.get_broker()
    dramatiq.set_broker(broker)
    for name in old.get_declared_actors():
        actor = old.get_actor(name)
        actor.broker = broker
        broker.declare_actor(actor)


broker = make_broker(get_settings())
dramatiq.set_broker(broker)
