"""mlgym-tools client: forwards a tool call to a host-side service over a unix socket (stdlib only).

The sandbox has no network and no access to the memory store; the environment starts the
services on the host and mounts their socket folder at /home/agent/.mlgym.
"""

import json
import os
import socket
import sys

TIMEOUTS = {"memory": 60.0, "literature": 120.0}


def socket_path(service):
    dirs = [os.environ.get("MLGYM_SERVICES_DIR", ""), "/home/agent/.mlgym"]
    home = os.environ.get("HOME", "")
    if home:
        dirs += [os.path.join(home, ".mlgym"), os.path.join(home, "services")]
    for d in dirs:
        if d and os.path.exists(os.path.join(d, f"{service}.sock")):
            return os.path.join(d, f"{service}.sock")
    return None


def call(service, op, **args):
    """Send one request; returns the service's reply dict or raises OSError/ValueError."""
    path = socket_path(service)
    if path is None:
        raise FileNotFoundError(f"the {service} service is not running in this episode")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(TIMEOUTS.get(service, 60.0))
        s.connect(path)
        s.sendall(json.dumps({"op": op, "args": args}).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    return json.loads(b"".join(chunks).decode("utf-8"))


def memory_footer():
    """{"records": n, "key_words": [...]} from the memory service, or None when memory is off."""
    if socket_path("memory") is None:
        return None
    reply = call("memory", "footer")
    return reply.get("data")


def run(service, op, **args):
    """Entry point of the tool executables: print the reply, one clear line on failure."""
    try:
        reply = call(service, op, **args)
    except FileNotFoundError as exc:
        print(f"Error: {exc}")
        return 1
    except socket.timeout:
        print(f"Error: the {service} service did not answer in time")
        return 1
    except (OSError, ValueError) as exc:
        print(f"Error: could not reach the {service} service: {exc}")
        return 1
    out = reply.get("output", "")
    if out:
        sys.stdout.write(out if out.endswith("\n") else out + "\n")
    return 0 if reply.get("ok", False) else 1
