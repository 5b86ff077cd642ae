"""An attach hook that holds EC2's flip: the device appears, EC2 still says
"attaching" until the test lets go.

The sim runs its attach hook and flips the attachment to "attached" when the
hook returns.  This hook runs blockns's (the device appears in the instance's
namespace), writes the instant it did to REGISTRY/appeared.jsonl, then waits
until the file RELEASE exists (at most 60 s).  A test can so tell what haboot
did while the kernel showed the device and EC2 did not yet: the device-event
path may end the wait on Nitro proof alone, the poll may not.

    hook_argv(registry, release) -> the sim's attach_hook
"""
import json
import os
import sys
import time

HERE = os.path.abspath(__file__)
sys.path.insert(0, os.path.dirname(HERE))
import blockns  # noqa: E402

PYTHON = "/usr/bin/python3"


def hook_argv(registry, release):
    return [PYTHON, HERE, registry, release]


def appeared(registry):
    """Each device made so far: volume, instance, and when the hook started
    making it (start) and had made it (time), epoch seconds."""
    p = os.path.join(registry, "appeared.jsonl")
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [json.loads(line) for line in f if line.strip()]


def main(registry, release):
    start = time.time()
    rc = blockns.hook(registry)
    if os.environ.get("SIM_ACTION") != "attach" or rc != 0:
        return rc
    with open(os.path.join(registry, "appeared.jsonl"), "a") as f:
        f.write(json.dumps({"volume": os.environ["SIM_VOLUME_ID"],
                            "instance": os.environ["SIM_INSTANCE_ID"],
                            "start": start, "time": time.time()}) + "\n")
    end = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < end:
        time.sleep(0.02)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
