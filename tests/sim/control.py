"""Control API under /_sim/ (JSON, no auth): seed, inspect and disturb the sim."""
import json
import re
import urllib.parse

from . import ec2, iam, lifecycle


def _json(handler, status, obj):
    handler.send_body(status, json.dumps(obj, default=str, indent=1), "application/json")


def handle(handler, st, path, body):
    m = handler.command
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
    imds_hit = re.match(r"^/_sim/imds/([^/]+)(/.*)?$", handler.path)
    if imds_hit:  # the standalone IMDS proxies here
        # Only the proxy can be told to drop its client; anyone else asking
        # this route directly (a test's haboot) has its own connection dropped.
        return handler.answer_imds(imds_hit.group(1), imds_hit.group(2) or "/",
                                   proxied=handler.headers.get("X-Sim-Proxy") == "1")
    try:
        doc = json.loads(body.decode() or "{}") if m in ("POST", "PUT") else {}
        out = route(st, m, path, doc, q)
    except (ValueError, KeyError, TypeError) as e:
        return _json(handler, 400, {"error": f"{type(e).__name__}: {e}"})
    if out is None:
        return _json(handler, 404, {"error": f"no control route {m} {path}"})
    return _json(handler, 200, out)


def route(st, m, path, doc, q):
    parts = path.strip("/").split("/")[1:]  # after "_sim"
    head = parts[0] if parts else ""
    arg = "/".join(parts[1:]) if len(parts) > 1 else None
    with st.lock:
        if head == "health":
            return {"ok": True}
        if head == "state" and m == "GET":
            return st.dump()
        if head == "seed" and m == "POST":
            st.seed(doc)
            return {"ok": True}
        if head == "reset" and m == "POST":
            st.reset(empty=bool(doc.get("empty")))
            return {"ok": True}
        if head == "delays":
            if m == "POST":
                st.set_delays(doc)
            return dict(st.delays)
        if head == "options":
            if m == "POST":
                st.seed({"options": doc})
            return dict(st.options)
        if head == "faults":
            if m == "POST":
                ids = [st.add_fault(f) for f in (doc if isinstance(doc, list) else [doc])]
                return {"ids": ids}
            if m == "DELETE":
                st.faults.clear()
                return {"ok": True}
            return {"faults": st.faults}
        if head == "requests":
            if m == "DELETE":
                st.requests.clear()
                return {"ok": True}
            rows = [r for r in st.requests
                    if all(str(r.get(k)) == v for k, v in q.items() if k in ("service", "action", "status"))
                    and r["seq"] > int(q.get("since", 0))]
            return {"requests": rows, "last_seq": st.last_request_id}
        if head == "instances" and arg:
            if arg not in st.instances and m == "GET":
                raise KeyError(f"no instance {arg}")
            if m == "POST":
                st.mark_ec2()
                fields = {k: v for k, v in doc.items() if k != "state"}
                if fields or arg not in st.instances:
                    st.seed({"instances": {arg: fields}})
                if "state" in doc:
                    ec2.set_instance_state(st, arg, doc["state"])
            return st.dump()["instances"][arg]
        if head == "volumes" and arg:
            if m == "POST":
                st.seed({"volumes": {arg: doc}})
            return st.dump()["volumes"][arg]
        if head == "lifecycle" and arg:
            return lifecycle.control(st, m, arg, doc)
        if head == "policies":
            return iam.control(st, m, arg, doc)
        if head == "console" and arg:
            if m == "POST":
                st.set_console(arg, doc.get("output"), doc.get("output_b64"))
            return st.console.get(arg, {})
    return None
