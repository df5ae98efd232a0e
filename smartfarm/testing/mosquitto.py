"""A Mosquitto broker of our own: own port, own config, own temp dir; restartable."""

from __future__ import annotations

import getpass
import shutil
import subprocess
from pathlib import Path

from smartfarm.testing.ports import free_port, wait_for_port
from smartfarm.testing.processes import terminate


class MosquittoServer:
    """Runs ``mosquitto -c <conf>`` on a free loopback port; ``extra_conf`` adds lines."""

    def __init__(self, workdir: Path, port: int | None = None, extra_conf: str = "") -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.extra_conf = extra_conf
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
        if not Path(binary).exists():
            raise RuntimeError("mosquitto is not installed: apt-get install mosquitto")
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        extra = self.extra_conf
        if "allow_anonymous" not in extra:
            extra += "\nallow_anonymous true\n"
        if "set_tcp_nodelay" not in extra:
            # As in production (deploy/mosquitto): small messages are sent at once.
            extra += "\nset_tcp_nodelay true\n"
        if "user " not in extra:
            # Started as root, mosquitto would switch to the user "mosquitto", which cannot
            # write its log or its persistence file in our private temp dir.
            extra += f"user {getpass.getuser()}\n"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            f"persistence true\npersistence_location {self.workdir}/\n"
            f"log_dest file {self.workdir}/mosquitto.log\n{extra}\n"
        )
        self._proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(self.port, timeout=10)
        except TimeoutError:
            self.stop()
            log = (self.workdir / "mosquitto.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"mosquitto did not start on {self.port}:\n{log}") from None

    def stop(self) -> None:
        if self._proc is not None:
            terminate(self._proc, f"mosquitto on port {self.port}")
            self._proc = None

    def __enter__(self) -> MosquittoServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
