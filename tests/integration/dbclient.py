"""A PostgreSQL client that commits rows in a loop and records each commit
the server acknowledged: the database drill's witness.

    dbclient.py SIM_URL ZONE NAME PORT OUT STOPFILE

It resolves NAME through the zone in the sim (the drill's DNS), connects,
and inserts row after row, one transaction each.  A row is written to OUT
("VALUE ADDRESS EPOCH") only after COMMIT returned success; a commit that
raised is not recorded (it may or may not have happened: the server died
with it), and every attempt uses a new value, so the test's claim is exact:
every recorded row must be in the database after the takeover.  On any
error it reconnects, resolving the name again.  Dead servers are noticed
within seconds (TCP user timeout and keepalives), not after the kernel's
minutes.  It stops when STOPFILE exists.
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import psycopg2  # noqa: E402
from sim.client import SimClient  # noqa: E402


def resolve(sim, zone, name):
    z = sim.state()["zones"][zone]
    rec = next((r for r in z["records"] if r["name"] == name + "." and r["type"] == "A"), None)
    return rec["values"][0] if rec else None


def main(sim_url, zone, name, port, out_path, stop_path):
    sim = SimClient(sim_url)
    value = 0
    conn = None
    with open(out_path, "a", buffering=1) as out:
        while not os.path.exists(stop_path):
            try:
                if conn is None:
                    addr = resolve(sim, zone, name)
                    conn = psycopg2.connect(host=addr, port=int(port), user="postgres",
                                            dbname="postgres", connect_timeout=2,
                                            keepalives=1, keepalives_idle=1,
                                            keepalives_interval=1, keepalives_count=2,
                                            tcp_user_timeout=2000)
                    with conn.cursor() as cur:
                        cur.execute("create table if not exists drill (v bigint primary key, "
                                    "at timestamptz not null default now())")
                    conn.commit()
                value += 1
                with conn.cursor() as cur:
                    cur.execute("insert into drill (v) values (%s)", (value,))
                conn.commit()
                out.write(f"{value} {addr} {time.time():.6f}\n")
            except Exception as e:  # the server died, the name moved: reconnect
                print(f"{time.time():.3f} {type(e).__name__}: {str(e).strip()}",
                      file=sys.stderr, flush=True)
                if conn is not None:
                    try:
                        conn.close()
                    except Exception:
                        pass
                conn = None
                time.sleep(0.1)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 7:
        sys.exit(f"usage: {sys.argv[0]} SIM_URL ZONE NAME PORT OUT STOPFILE")
    sys.exit(main(*sys.argv[1:]))
