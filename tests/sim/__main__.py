"""python3 -m sim serve|imds ... (run with PYTHONPATH=tests and /usr/bin/python3)."""
import argparse
import json
import sys
import threading


def main(argv=None):
    ap = argparse.ArgumentParser(prog="sim", description="haboot's local AWS + IMDS simulator")
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve", help="AWS APIs, IMDS and the control API on one port")
    s.add_argument("--bind", default="127.0.0.1")
    s.add_argument("--port", type=int, default=0)
    s.add_argument("--ready-file")
    s.add_argument("--seed", help="seed JSON file; POST /_sim/reset returns to it")
    s.add_argument("--log", help="append one JSON line per request/hook/event here")
    i = sub.add_parser("imds", help="IMDS for one instance, proxied to a main sim")
    i.add_argument("--instance", required=True)
    i.add_argument("--bind", default="169.254.169.254")
    i.add_argument("--port", type=int, default=80)
    i.add_argument("--control", required=True, help="main sim base URL, e.g. http://10.0.0.1:8080")
    i.add_argument("--ready-file")
    a = ap.parse_args(argv)

    if a.cmd == "imds":
        from .imds import serve_standalone
        serve_standalone(a.instance, a.bind, a.port, a.control, a.ready_file)
        return 0

    from . import params
    from .httpbase import serve
    from .server import make_server
    from .state import State

    log = None
    if a.log:
        fh = open(a.log, "a", buffering=1)
        lock = threading.Lock()

        def log(entry):
            with lock:
                fh.write(json.dumps(entry, default=str) + "\n")
    st = State(log=log)
    if a.seed:
        with open(a.seed) as f:
            st.initial_seed = json.load(f)
        st.seed(st.initial_seed)
    def preload():  # after the port is up, but well before haboot's first AWS call
        for svc in ("ec2", "route53", "sns", "monitoring", "autoscaling"):
            params.model(svc)
    threading.Thread(target=preload, name="sim-preload", daemon=True).start()
    st.start_ticker()
    serve(make_server(st, a.bind, a.port), a.ready_file, on_stop=st.stop)
    return 0


if __name__ == "__main__":
    sys.exit(main())
