"""`cnn-lab`: start the app with the project's Streamlit settings, or run a CLI topic (`cnn-lab train ...`).

    cnn-lab                         serve the app on port 8501 and print the address to share
    cnn-lab --port 8600             another port
    cnn-lab --data-dir DIR          keep data, checkpoints (and look for cnnlab.toml) in DIR
    cnn-lab --config cnnlab.toml    the class config to use
    cnn-lab --version
    cnn-lab TOPIC ...               the same as `python -m cnnkit TOPIC ...` (train, lessons, data, ...)

The options before a topic apply to it too (`cnn-lab --data-dir DIR train ...`). The app is served exactly as
`make run` serves it: the settings in .streamlit/config.toml are passed on the command line (Streamlit reads
that file only from the working directory), plus the port, the file watcher off and the server address.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tomllib
from pathlib import Path

import cnnkit
from cnnkit import paths
from cnnkit.classroom.config import CONFIG_ENV
from cnnkit.install import locations

DEFAULT_PORT = 8501
# Options of cnn-lab itself that take a value; anything else before the first word is an error, and the first
# word that is not an option starts a CLI topic.
_VALUED = ("--port", "--address", "--data-dir", "--config")


def app_dir() -> Path:
    """The folder holding app.py, pages/, ui/ and .streamlit/: cnnlab/app in a wheel, the repository root else."""
    here = Path(__file__).resolve().parent
    inside = here / "app"
    return inside if (inside / "app.py").is_file() else here.parent


def streamlit_settings(folder: Path) -> list[str]:
    """The app's .streamlit/config.toml as command-line flags (`--section.key value`), in the file's order."""
    config = folder / ".streamlit" / "config.toml"
    flags: list[str] = []
    if not config.is_file():
        return flags
    for section, options in tomllib.loads(config.read_text(encoding="utf-8")).items():
        for key, value in options.items():
            text = str(value).lower() if isinstance(value, bool) else str(value)
            flags += [f"--{section}.{key}", text]
    return flags


def server_address() -> str:
    """The address students type: this machine's first network address (`hostname -I`, as `make run`), else its
    name's, else localhost. Given to Streamlit, it also stops Streamlit asking an outside service for it."""
    try:
        found = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout.split()
        if found:
            return found[0]
    except (OSError, subprocess.SubprocessError):
        pass
    try:
        address = socket.gethostbyname(socket.gethostname())
        if not address.startswith("127."):
            return address
    except OSError:
        pass
    return "localhost"


def build_parser(with_topics: bool = False) -> argparse.ArgumentParser:
    epilog = "cnn-lab TOPIC ... is the same as python -m cnnkit TOPIC ...; cnn-lab TOPIC --help says more."
    if with_topics:  # only for --help: listing them imports every topic's module (and torch)
        from cnnkit.cli import topic_names

        epilog = f"Topics: {', '.join(topic_names())}. " + epilog
    parser = argparse.ArgumentParser(
        prog="cnn-lab", description="CNN Lab: start the app (no topic), or run a command-line topic.", epilog=epilog)
    parser.add_argument("--version", action="version", version=f"cnn-lab {cnnkit.__version__}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"the app's port (default {DEFAULT_PORT})")
    parser.add_argument("--address", help="the address to share with the class (default: this machine's first "
                                          "network address)")
    parser.add_argument("--data-dir", help="keep data and checkpoints (and look for cnnlab.toml) in this folder "
                                           f"(default: {paths.home_dir()})")
    parser.add_argument("--config", help="the class config file (default: $CNNLAB_CONFIG, else cnnlab.toml in "
                                         "the data folder)")
    return parser


def split_topic(argv: list[str]) -> tuple[list[str], list[str]]:
    """(cnn-lab's own options, the topic and its arguments): the topic starts at the first word that is not an
    option or an option's value, so a topic's own options (`train --config ...`) stay the topic's."""
    index = 0
    while index < len(argv):
        word = argv[index]
        if word in _VALUED:
            index += 2
        elif word.startswith("-"):
            index += 1
        else:
            break
    return argv[:index], argv[index:]


def apply_locations(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """--data-dir and --config, as environment variables: the app's process and its workers read them."""
    if args.data_dir:
        os.environ[paths.HOME_ENV] = str(Path(args.data_dir).expanduser().resolve())
    if args.config:
        config = Path(args.config).expanduser().resolve()
        if not config.is_file():
            parser.error(f"--config {args.config}: no such file")
        os.environ[CONFIG_ENV] = str(config)


def serve(args: argparse.Namespace) -> int:
    folder = app_dir()
    address = args.address or server_address()
    print(f"CNN Lab {cnnkit.__version__}\n"
          f"  Share this address with the class: http://{address}:{args.port}", flush=True)
    print("\n".join(f"  {line}" for line in locations().lines()), flush=True)
    flags = streamlit_settings(folder) + [
        "--server.port", str(args.port), "--server.fileWatcherType", "none",
        "--browser.serverAddress", address, "--browser.gatherUsageStats", "false"]
    from streamlit.web import cli as streamlit_cli

    # server.py: app.py with the route that sets the teacher's HttpOnly cookie (ui/teacher_cookie.py)
    return streamlit_cli.main(args=["run", str(folder / "server.py"), *flags], prog_name="streamlit")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    own, topic = split_topic(argv)
    parser = build_parser(with_topics=bool({"-h", "--help"} & set(own)))
    args = parser.parse_args(own)
    apply_locations(args, parser)
    if topic:
        from cnnkit.cli import main as cli_main

        return cli_main(topic, prog="cnn-lab")
    return serve(args)
