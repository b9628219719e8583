"""A single-node KRaft Kafka broker on 127.0.0.1, run from the jars Maven copied into `.cache/kafka/libs`.

Used by `make run` and by the test session. Kafka publishes its broker on Maven Central, so no download
site or Docker engine is needed; see docs/decisions.md.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBS = ROOT / ".cache" / "kafka" / "libs"
POM = ROOT / "infra" / "kafka" / "pom.xml"

LOG4J2_PROPERTIES = """\
status = warn
appender.file.type = File
appender.file.name = file
appender.file.fileName = {log}
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = file
logger.kafka.name = kafka
logger.kafka.level = WARN
logger.kafka.additivity = true
logger.kafkaserver.name = kafka.server.KafkaRaftServer
logger.kafkaserver.level = INFO
logger.org.name = org.apache.kafka
logger.org.level = WARN
"""


class JavaMissing(RuntimeError):
    pass


_handed_out: set[int] = set()


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port below the kernel's ephemeral range, free now and not handed out before by this process.

    Asking the kernel for port 0 returns an ephemeral port, which an outgoing connection (Kafka clients
    make many) can take between our choosing it and the server binding it.
    """
    low = min(_ephemeral_low(), 32768)
    for _ in range(1000):
        port = random.randint(20000, low - 1)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError("no free port found below the ephemeral range")


def check_java() -> None:
    """Fails in one line when Java 17+ is not there, as the operator needs nothing more."""
    java = shutil.which("java")
    if java is None:
        raise JavaMissing("Java 17 is required for the local Kafka broker: apt-get install openjdk-17-jre-headless")
    out = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    try:
        major = int(out.split('"')[1].split(".")[0])
    except (IndexError, ValueError):
        major = 0
    if major < 17:
        found = out.splitlines()[0] if out else "none"
        raise JavaMissing(f"Java 17 is required for the local Kafka broker, found: {found}")


def ensure_libs() -> Path:
    """Copies the broker jars from Maven Central once; later calls find them in the cache."""
    marker = LIBS / ".complete"
    if marker.exists() and marker.read_text() == POM.read_text():
        return LIBS
    mvn = shutil.which("mvn")
    if mvn is None:
        raise RuntimeError("Maven (mvn) is required once, to fetch the Kafka broker jars from Maven Central")
    if LIBS.exists():
        shutil.rmtree(LIBS)
    subprocess.run(
        [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
         "-DincludeScope=runtime", f"-DoutputDirectory={LIBS}"],
        check=True,
    )
    marker.write_text(POM.read_text())
    return LIBS


@dataclass
class KafkaBroker:
    """One combined broker+controller node. `start()` returns once an admin request succeeds."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    controller_port: int = field(default_factory=free_port)
    heap: str = "512m"
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _write_config(self) -> Path:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        props = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "controller.listener.names": "CONTROLLER",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "inter.broker.listener.name": "PLAINTEXT",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "log.dirs": str(self.data_dir / "logs"),
            "num.partitions": "3",
            "offsets.topic.replication.factor": "1",
            "offsets.topic.num.partitions": "3",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # The default 3 s delay slows every consumer group join in tests and at start-up.
            "group.initial.rebalance.delay.ms": "0",
            # Topics are created explicitly with the partition counts we mean.
            "auto.create.topics.enable": "false",
        }
        path = self.data_dir / "server.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.data_dir / "log4j2.properties").write_text(
            LOG4J2_PROPERTIES.format(log=self.data_dir / "server.log")
        )
        return path

    def _java(self, *args: str, heap: str | None = None) -> list[str]:
        cmd = ["java"]
        if heap:
            cmd += [f"-Xms{heap}", f"-Xmx{heap}"]
        cmd += [
            f"-Dlog4j2.configurationFile={self.data_dir / 'log4j2.properties'}",
            "-cp", f"{LIBS}/*",
        ]
        return cmd + list(args)

    def start(self, timeout: float = 90.0) -> None:
        check_java()
        ensure_libs()
        config = self._write_config()
        if not (self.data_dir / "logs" / "meta.properties").exists():
            cluster_id = subprocess.run(
                self._java("kafka.tools.StorageTool", "random-uuid"),
                check=True, capture_output=True, text=True,
            ).stdout.strip().splitlines()[-1]
            subprocess.run(
                self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                check=True, capture_output=True,
            )
        log = self.data_dir / "server.log"
        # The log is appended to across restarts: only what this start writes counts.
        offset = log.stat().st_size if log.exists() else 0
        out = open(self.data_dir / "stdout.log", "ab")  # noqa: SIM115 - owned by the child
        self.process = subprocess.Popen(
            self._java("kafka.Kafka", str(config), heap=self.heap),
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Kafka broker exited with {self.process.returncode}; see {log}")
            if log.exists() and b"Kafka Server started" in log.read_bytes()[offset:]:
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"Kafka broker not ready after {timeout}s; see {log}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    """`python -m tools.kafka_broker fetch` prepares the jars; `... [dir]` runs a broker until Ctrl-C."""
    try:
        check_java()
    except JavaMissing as e:
        print(e, file=sys.stderr)
        raise SystemExit(1) from None
    if sys.argv[1:] == ["fetch"]:
        print(f"Kafka broker jars in {ensure_libs()}")
        return
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "var" / "kafka"
    broker = KafkaBroker(data_dir=data, port=int(os.environ.get("KAFKA_PORT", "9092")))
    broker.start()
    print(f"Kafka broker on {broker.bootstrap_servers} (cluster data in {data})")
    try:
        assert broker.process is not None
        broker.process.wait()
    except KeyboardInterrupt:
        broker.stop()


if __name__ == "__main__":
    main()
