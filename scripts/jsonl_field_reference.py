"""The reference for how `gpt2 prepare` reads a JSON Lines document: Python's json module.

Reads lines from stdin (UTF-8, separated by "\\n" only) and prints one JSON verdict per line for the string field
named by the first argument: {"string": DOCUMENT}, or {"verdict": V} with V one of "invalid" (not JSON),
"notAnObject", "missing" (no such field, or not a string), "loneSurrogate" (the string holds half of a surrogate
pair, which UTF-8 cannot hold), "tooDeep" (Python's recursion limit, which gpt2 does not have). As gpt2 does,
one leading byte-order mark is dropped from a line first, and integers may have any number of digits.
"""

import json
import sys


def verdict(line: str, field: str) -> dict:
    if line.startswith("\ufeff"):
        line = line[1:]
    try:
        value = json.loads(line)
    except RecursionError:
        return {"verdict": "tooDeep"}
    except ValueError:
        return {"verdict": "invalid"}
    if not isinstance(value, dict):
        return {"verdict": "notAnObject"}
    document = value.get(field)
    if not isinstance(document, str):
        return {"verdict": "missing"}
    if any(0xD800 <= ord(character) <= 0xDFFF for character in document):
        return {"verdict": "loneSurrogate"}
    return {"string": document}


def main() -> None:
    field = sys.argv[1]
    if hasattr(sys, "set_int_max_str_digits"):   # (Python 3.11's guard against slow int(), no rule of JSON)
        sys.set_int_max_str_digits(0)
    for raw in sys.stdin.buffer.read().split(b"\n"):
        print(json.dumps(verdict(raw.decode("utf-8"), field), ensure_ascii=True))


if __name__ == "__main__":
    main()
