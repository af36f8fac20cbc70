"""Runs the bundled Bitrix24 simulator in the foreground until Ctrl-C or SIGTERM."""

import os
import signal
import threading
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from simulator.scenario import ScenarioError, load_scenario_file
from simulator.server import Simulator


class Command(BaseCommand):
    # The simulator stands apart from BotWatch: it must start even while the web app is misconfigured.
    requires_system_checks: list = []
    help = "Run the bundled Bitrix24 REST simulator (portals under {base}/{portal}, OAuth at {base}/oauth/token/)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8090, help="0 picks a free port")
        parser.add_argument("--scenario", help="YAML scenario file (see simulator/scenarios/demo.yaml)")
        parser.add_argument("--write-portal-file", help="write the BotWatch portal file for the scenario")
        parser.add_argument("--public-url", help="base URL clients use when it differs from host:port (containers)")
        parser.add_argument("--seed", type=int, help="seed for counters growth and probabilistic faults")
        parser.add_argument(
            "--token-file",
            help="keep OAuth tokens across restarts (default with --write-portal-file: PORTAL_FILE.tokens.json)",
        )

    def handle(self, *args, **options) -> None:
        stop = self._stop_on_signals()  # before the address is printed: whoever reads it may SIGTERM at once
        scenario = self._load(options["scenario"]) if options["scenario"] else None
        sim = Simulator(seed=options["seed"], token_file=self._token_file(options))
        try:
            base = sim.start(options["host"], options["port"], public_url=options["public_url"])
        except OSError as exc:
            where = f"{options['host']}:{options['port']}"
            raise CommandError(f"cannot listen on {where}: {exc.strerror}", returncode=2) from None
        try:
            portal_file = sim.load_scenario(scenario) if scenario else {"portals": []}
            if options["write_portal_file"]:
                self._write_portal_file(Path(options["write_portal_file"]), portal_file)
            self.stdout.write(f"Bitrix24 simulator listening on {base}")
            self.stdout.flush()
            while not stop.wait(1.0):
                pass
        finally:
            sim.stop()

    @staticmethod
    def _token_file(options: dict) -> str | None:
        """BotWatch keeps the tokens it got from a refresh; a restarted simulator must still know them."""
        if options["token_file"]:
            return options["token_file"]
        return f"{options['write_portal_file']}.tokens.json" if options["write_portal_file"] else None

    def _load(self, path: str) -> dict:
        try:
            return load_scenario_file(path)
        except ScenarioError as exc:
            raise CommandError(f"bad scenario file {path}:\n" + "\n".join(exc.problems), returncode=2) from None

    def _write_portal_file(self, path: Path, portal_file: dict) -> None:
        """Holds webhook codes, bot tokens and OAuth secrets: readable by the owner only.

        Written aside and renamed into place, so that whoever waits for the file never reads half of it.
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(portal_file, out, sort_keys=False)
        os.replace(tmp, path)
        self.stdout.write(f"Portal file written to {path}")

    @staticmethod
    def _stop_on_signals() -> threading.Event:
        stop = threading.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: stop.set())
        return stop
