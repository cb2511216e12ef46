"""`class`: the teacher's server config, from a shell.

    python -m cnnkit class hash-password        # asks for the password; prints the cnnlab.toml line
    python -m cnnkit class check-config [FILE]  # validates cnnlab.toml (the app refuses to run with errors)
    python -m cnnkit class release-name NAME    # frees a claimed student name
    python -m cnnkit class join-link NAME       # claims NAME for its student (even one that owns runs): the link
"""

from __future__ import annotations

import argparse
import getpass
import sys

from cnnkit.cli.common import print_json, topic_subparsers


def cmd_hash_password(args: argparse.Namespace) -> int:
    from cnnkit.classroom import hash_password

    password = sys.stdin.readline().rstrip("\n") if args.stdin else getpass.getpass("Teacher password: ")
    if not password:
        raise ValueError("the password is empty; type one")
    print(f'teacher_password_sha256 = "{hash_password(password)}"   # under [class] in cnnlab.toml')
    return 0


def cmd_check_config(args: argparse.Namespace) -> int:
    from cnnkit.classroom import load_classroom_config

    config = load_classroom_config(args.file)
    summary = {"source": config.source or "(no file: defaults)", "limits": config.limits_text() or "none",
               "teacher_password": "set" if config.has_teacher_password else "not set",
               "imports": vars(config.imports)}
    if args.json:
        print_json(summary)
    else:
        for key, value in summary.items():
            print(f"{key}: {value}")
    return 0


def cmd_release_name(args: argparse.Namespace) -> int:
    from cnnkit.classroom import release_name

    released = release_name(args.name)
    print(f"{args.name}: " + ("released" if released else "was not claimed"))
    return 0


def cmd_join_link(args: argparse.Namespace) -> int:
    from urllib.parse import urlencode

    from cnnkit.classroom import use_name

    name, key = use_name(args.name, "", teacher=True)  # the shell is the server's operator: the teacher's tool
    link = args.url.rstrip("/") + "/?" + urlencode({"name": name, "key": key})
    if args.json:
        print_json({"name": name, "link": link})
    else:
        print(f"{name}: {link}")
        print("(the key is shown only now: hand this link to its student)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    sub = topic_subparsers(subparsers, "class", "the class: its config, claimed names, students' data")
    p = sub.add_parser("hash-password", help="print the teacher_password_sha256 line for cnnlab.toml")
    p.add_argument("--stdin", action="store_true", help="read the password from stdin (one line) instead of asking")
    p.set_defaults(func=cmd_hash_password)
    p = sub.add_parser("check-config", help="validate cnnlab.toml ($CNNLAB_CONFIG or ./cnnlab.toml)")
    p.add_argument("file", nargs="?", help="the file to check (default: $CNNLAB_CONFIG or ./cnnlab.toml)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_check_config)
    p = sub.add_parser("release-name", help="free a claimed student name")
    p.add_argument("name")
    p.set_defaults(func=cmd_release_name)
    p = sub.add_parser("join-link", help="claim a name for its student and print their join link (a name that "
                                         "owns runs made with --owner is claimed only this way or on the Class board)")
    p.add_argument("name")
    p.add_argument("--url", default="http://localhost:8501", help="the app's address students open")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_join_link)
