"""The Bitrix24 simulator for the benchmark, in a process of its own: N portals x M bots.

Prints its base URL on the first line, then serves until terminated. Every portal has the
real cloud limits (leaky bucket 2/s, 50 deep) and the given latency on each request; the
backends of the --probed share of each portal's bots answer what is written to them after 1 s.
"""

import argparse
import signal
import sys
import threading

from simulator.server import Simulator

WEBHOOK_CODE = "bench-webhook-code"


ANSWER_DELAY_S = 1.0  # how long a probed bot's backend takes to answer


def portal_name(i: int) -> str:
    return f"bench{i:04d}"


def probed_codes(bots: int, fraction: float) -> list[str]:
    """The codes of the bots of each portal whose answer is probed: the first `fraction` of them."""
    return [f"bot{b}" for b in range(round(bots * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--portals", type=int, required=True)
    parser.add_argument("--bots", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--probed", type=float, default=0.0, help="share of each portal's bots whose backend answers")
    args = parser.parse_args()

    sim = Simulator(seed=1)
    base_url = sim.start("127.0.0.1", args.port)
    for p in range(args.portals):
        name = portal_name(p)
        sim.add_portal(name, webhook_user_id=1, webhook_code=WEBHOOK_CODE, latency_ms=args.latency_ms)
        for b in range(args.bots):
            sim.add_bot(name, code=f"bot{b}", bot_token=f"token{b}")
        for code in probed_codes(args.bots, args.probed):
            sim.set_answer(name, code, "answer", delay_s=ANSWER_DELAY_S)
    print(base_url, flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    sim.stop()
    sys.exit(0)


if __name__ == "__main__":
    main()
