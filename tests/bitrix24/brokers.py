"""Token brokers over real HTTP: the simulator's (an app's backend); a broker that misbehaves is a
scripted receiver (tests.fixtures.receiver.raw_receiver)."""

from checks.models import AuthType, Portal

BROKER_SECRET = "broker-secret-7f3a9c"


def broker_portal(sim, name="brokered", *, client_id="local.brk", save=True, **sim_kwargs) -> Portal:
    """An OAuth portal whose app serves a broker in the simulator; BotWatch holds no token at all."""
    sim.add_portal(name, webhook_code=None, rate=100, burst=100, **sim_kwargs)
    sim.add_oauth_app(name, client_id, "the-apps-own-client-secret")
    broker_url = sim.add_broker(name, client_id, BROKER_SECRET)["broker_url"]
    portal = Portal(
        name=name,
        url=sim.portal_url(name),
        auth_type=AuthType.OAUTH,
        oauth_client_id=client_id,
        oauth_broker_url=broker_url,
        oauth_broker_secret=BROKER_SECRET,
        pace_rate=100,
        pace_burst=100,
    )
    if save:
        portal.save()
    return portal
