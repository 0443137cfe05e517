"""``python -m swf_relay_client``: the ``swf-relay-receive`` command."""

import sys

from swf_relay_client import main

sys.exit(main(prog="python -m swf_relay_client"))
