"""What one handoff between two threads costs: CPU per ``ask`` of a candlecast actor (a message
to the actor's thread and its answer back, two wake-ups), with the two threads free to run on
any CPU and with both on one CPU (as under ``--cpus``).

    python -m bench.handoff [--asks 20000] [--repeat 3] [--cpu N]

Every REST request asks an actor, and every message between actors wakes a thread; this is the
price of each such wake-up on this machine, without anything else around it.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from bench.figures import machine
from candlecast.actors.base import Actor
from candlecast.runtime.cpu_affinity import threads_started_on, usable_cpus


class Echo(Actor):
    def handle(self, message: Any) -> Any:
        return message


def cpu_per_ask_us(asks: int) -> tuple[float, float]:
    """(wall, CPU of both threads) per ask, in µs, for an actor started by the calling thread."""
    echo = Echo.start()
    try:
        wall, cpu = time.perf_counter(), time.process_time()
        for _ in range(asks):
            echo.ask(b"ping", timeout=2)
        return (time.perf_counter() - wall) / asks * 1e6, (time.process_time() - cpu) / asks * 1e6
    finally:
        echo.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--asks", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cpu", type=int, default=max(usable_cpus(), default=0), help="the one CPU of the second case")
    args = parser.parse_args()
    print(machine())
    print(f"{args.asks:,} asks per run; CPU is both threads' (this process's), per ask")
    for _ in range(args.repeat):
        for label, cpus in (("any CPU", ()), (f"CPU {args.cpu} only", (args.cpu,))):
            with threads_started_on(cpus):  # the asking thread and the actor's, which it starts
                wall_us, cpu_us = cpu_per_ask_us(args.asks)
            print(f"{label:>12}: {wall_us:6.1f} us wall, {cpu_us:6.1f} us CPU per ask", flush=True)


if __name__ == "__main__":
    main()
