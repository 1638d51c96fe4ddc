"""Read a request's status and logs with the Python client (standard
library only), as a program waiting on a request would.

    python3 examples/client_status.py REQUEST_ID

The collector and the token are found as the logtap CLI finds them
($LOGTAP_SERVER, $LOGTAP_TOKEN, $LOGTAP_CREDENTIALS or
~/.config/logtap/credentials). With logtap installed, `import logtap.client`
works as it is; from a clone, put bindings/python on PYTHONPATH.
"""

import sys

import logtap.client


def main():
    if len(sys.argv) != 2 or sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0 if len(sys.argv) == 2 else 2
    try:
        status = logtap.client.status(sys.argv[1], with_logs=True)
    except logtap.client.LogtapError as e:
        print("client_status: %s" % e, file=sys.stderr)
        return 1
    print("%s: %s, %d lines" % (status.request_id, status.status, len(status.logs)))
    for line in status.logs:
        print("  %s %-6s %s" % (line["timestamp"], line["level"], line["message"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
