#!/usr/bin/env python3
"""Print a systemd unit's command lines for one key as the manager would run
them, one per line: specifiers (%f, %i, %S, ...) replaced by the values given
on the command line, ${VAR} from the unit's Environment= lines, and the
leading '-' (ignore failure) dropped.

    unit_cmd.py UNIT KEY [%x=VALUE ...]   e.g. unit_cmd.py chanfs@.service ExecStart %f=/mnt
    unit_cmd.py UNIT --get KEY            prints the raw values of KEY
"""
import re
import sys


def entries(path):
    for line in open(path, encoding="utf-8"):
        line = line.strip()
        if not line or line[0] in "#;[" or "=" not in line:
            continue
        key, value = line.split("=", 1)
        yield key.strip(), value.strip()


def main():
    unit, key = sys.argv[1], sys.argv[2]
    if key == "--get":
        for k, v in entries(unit):
            if k == sys.argv[3]:
                print(v)
        return
    specifiers = dict(a.split("=", 1) for a in sys.argv[3:])
    env = {}
    for k, v in entries(unit):
        if k == "Environment":
            name, value = v.split("=", 1)
            env[name] = value

    def expand(text):
        text = re.sub(r"%[a-zA-Z]", lambda m: specifiers[m.group(0)], text)
        return re.sub(r"\$\{(\w+)\}", lambda m: env.get(m.group(1), ""), text)

    for k, v in entries(unit):
        if k == key:
            print(expand(v.lstrip("-")))


main()
