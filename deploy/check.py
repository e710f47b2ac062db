#!/usr/bin/env python3
"""make deploy-check: every deployment file names ports and health checks
that the programs really serve.

  deploy/check.py [--build build/release] [--root DIR] [--quiet]

The facts come from the built programs, not from a copy kept here:
  * each program's own variables and defaults (PROGRAM --help);
  * the configuration a deployment file gives it, validated by the program
    itself (its [env] / environment run through PROGRAM --print-config, with
    placeholder secrets): the address it listens on, its heartbeat and idle
    timeouts, where the gateway looks for each service;
  * the gateway started with each file's settings (on a free port): the
    health path and the chat path answer, the versioned widget name the demo
    page uses, its cache headers;
  * the Dockerfiles' EXPOSE / STOPSIGNAL / HEALTHCHECK lines;
  * Cloudflare's ranges (ips.txt) are CIDRs and ship in the gateway image.
Checked: deploy/fly/*.toml (tomllib), deploy/aws/*.json (ECS task
definitions, the ALB target group and security group), deploy/cloudflare/
(Rulesets API JSON, Terraform, ips.txt). Prints one line per check and
"deploy-check: N passed, M failed"; exit 1 when anything failed.
"""
import argparse
import glob
import ipaddress
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.error
import urllib.request

SERVICES = {  # program -> the Health RPC name chat-health takes
    "svc-session": "session", "svc-retrieval": "retrieval", "svc-llm": "llm", "svc-indexer": "indexer",
}
PROGRAMS = ["gateway", *SERVICES]
PLACEHOLDER_SECRETS = {
    "SESSION_SECRET": "deploy-check-placeholder-secret-0123456789",
    "RPC_SECRET": "deploy-check-placeholder-rpc-secret-0123456789",
    "IP_HASH_SECRET": "deploy-check-placeholder-ip-hash-secret",
    "DATABASE_URL": "postgresql://check@127.0.0.1:1/check",
    "ANTHROPIC_API_KEY": "sk-ant-placeholder",
    "OPENAI_API_KEY": "sk-placeholder",
}
FLY_PROXY_IDLE_S = 60       # Fly's proxy closes a connection idle this long
CLOUDFLARE_IDLE_S = 100     # Cloudflare's proxy read timeout
ADR_RATE = (30, 600)        # ADR-006: 30 requests per 10 minutes per IP

passed = failed = 0
quiet = False


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        if not quiet:
            print(f"ok   {name}")
    else:
        failed += 1
        print(f"FAIL {name}" + (f"\n     {detail}" if detail else ""))
    return ok


def duration_ms(v):
    m = re.fullmatch(r"(\d+)(ms|s|m|h)?", v.strip())
    if not m:
        raise ValueError(f"not a duration: {v!r}")
    n, unit = int(m.group(1)), m.group(2) or "ms"
    return n * {"ms": 1, "s": 1000, "m": 60000, "h": 3600000}[unit]


class Program:
    def __init__(self, bindir, name):
        self.name, self.path = name, os.path.join(bindir, name)
        out = subprocess.run([self.path, "--help"], capture_output=True, text=True, timeout=10).stdout
        self.vars = {}
        for line in out.splitlines():
            m = re.match(r"^([A-Z][A-Z0-9_]+)\s+(\S+)\s+", line)
            if m:
                self.vars[m.group(1)] = m.group(2)
        if not self.vars:
            raise RuntimeError(f"{name} --help listed no variables")

    def config(self, env):
        """The program's effective configuration under env (its own validation)."""
        e = {"PATH": "/usr/bin:/bin"}
        for k in self.vars:
            if k in PLACEHOLDER_SECRETS:
                e[k] = PLACEHOLDER_SECRETS[k]
        e.update(env)
        r = subprocess.run([self.path, "--print-config"], env=e, capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            return None, (r.stderr or r.stdout).strip().splitlines()[0] if (r.stderr or r.stdout).strip() else f"exit {r.returncode}"
        cfg = dict(line.split("=", 1) for line in r.stdout.splitlines() if "=" in line)
        return cfg, ""

    def serve_without(self, env, var):
        """Starts the program to serve with env but without var; (exit status
        or None when it kept running, its first stderr line)."""
        e = {"PATH": "/usr/bin:/bin", "LOG_LEVEL": "error"}
        for k in self.vars:
            if k in PLACEHOLDER_SECRETS:
                e[k] = PLACEHOLDER_SECRETS[k]
        e.update(env)
        e.pop(var, None)
        p = subprocess.Popen([self.path], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return None, "kept running"
        return p.returncode, (p.stderr.read().strip().splitlines() or [""])[0]

    def url_var(self):
        return {"svc-session": "SESSION_URL", "svc-retrieval": "RETRIEVAL_URL", "svc-llm": "LLM_URL",
                "svc-indexer": "INDEXER_URL"}.get(self.name)


def url_port(url):
    m = re.fullmatch(r"tcp://(\[[^\]]*\]|[^:/]*):(\d+)", url)
    return (m.group(1), int(m.group(2))) if m else (None, None)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class RunningGateway:
    """The gateway started with a deployment's settings, on a free loopback port."""

    def __init__(self, prog, env, root):
        self.port = free_port()
        e = {"PATH": "/usr/bin:/bin", "SESSION_SECRET": PLACEHOLDER_SECRETS["SESSION_SECRET"],
             "WIDGET_DIR": os.path.join(root, "widget"),
             "CLOUDFLARE_IPS_FILE": os.path.join(root, "deploy/cloudflare/ips.txt")}
        e.update(env)
        # Loopback only; the services are not needed for these paths.
        e.update({"HTTP_ADDR": "127.0.0.1", "HTTP_PORT": str(self.port), "LOG_LEVEL": "error"})
        for v in ("SESSION_URL", "RETRIEVAL_URL", "LLM_URL", "INDEXER_URL"):
            e[v] = f"tcp://127.0.0.1:{free_port()}"
        self.p = subprocess.Popen([prog.path], env=e, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.p.poll() is not None:
                    raise RuntimeError(f"gateway exited: {self.p.stderr.read().decode()[:300]}")
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"gateway did not listen on 127.0.0.1:{self.port} within 10 s")

    def get(self, path, method="GET", body=None, headers=None):
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method, data=body,
                                     headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                return r.status, dict(r.headers), r.read()
        except urllib.error.HTTPError as e:
            return e.code, dict(e.headers), e.read()

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()


def dockerfile_facts(path):
    text = open(path).read()
    f = {"expose": [int(x) for x in re.findall(r"^EXPOSE\s+(\d+)", text, re.M)],
         "stopsignal": (re.findall(r"^STOPSIGNAL\s+(\S+)", text, re.M) or [None])[-1],
         "healthcheck": " ".join(re.findall(r"^HEALTHCHECK(?:[^\n]*\\\n)*[^\n]*", text, re.M)).replace("\\\n", " "),
         "user": (re.findall(r"^USER\s+(\S+)", text, re.M) or [None])[-1],
         "entrypoint": (re.findall(r"^ENTRYPOINT\s+(.*)$", text, re.M) or [""])[-1]}
    return f


def check_fly(root, progs, facts):
    files = sorted(glob.glob(os.path.join(root, "deploy/fly/*.toml")))
    check("fly: a file for each program and the backup job",
          {os.path.basename(f)[:-5] for f in files} >= {*PROGRAMS, "backup"}, f"found {[os.path.basename(f) for f in files]}")
    apps = {}
    for f in files:
        rel = os.path.relpath(f, root)
        try:
            t = tomllib.load(open(f, "rb"))
        except tomllib.TOMLDecodeError as e:
            check(f"{rel}: parses", False, str(e))
            continue
        name = os.path.basename(f)[:-5]
        apps[name] = t
        check(f"{rel}: region fra", t.get("primary_region") == "fra", f"primary_region = {t.get('primary_region')!r}")
        vm = (t.get("vm") or [{}])[0]
        check(f"{rel}: shared-cpu-1x, 256 MB", vm.get("size") == "shared-cpu-1x" and str(vm.get("memory")).lower() in ("256mb", "256"),
              f"vm = {vm}")
        df = os.path.normpath(os.path.join(os.path.dirname(f), t.get("build", {}).get("dockerfile", "")))
        if not check(f"{rel}: its Dockerfile exists", os.path.isfile(df), df):
            continue
        d = dockerfile_facts(df)
        check(f"{rel}: kill_signal = the image's STOPSIGNAL ({d['stopsignal']})", t.get("kill_signal") == d["stopsignal"],
              f"kill_signal = {t.get('kill_signal')!r}")
        check(f"{rel}: the image runs as a non-root user", d["user"] not in (None, "root", "0"), f"USER {d['user']}")
        env = {k: str(v) for k, v in t.get("env", {}).items()}
        if name == "backup":
            script = open(os.path.join(root, "deploy/backup/chat-backup.sh")).read()
            check(f"{rel}: serves nothing (no [[services]], [http_service], checks)",
                  not any(k in t for k in ("services", "http_service", "checks")))
            unknown = [k for k in env if not re.search(rf"\b{k}\b", script)]
            check(f"{rel}: every [env] name is read by chat-backup.sh", not unknown, f"unknown: {unknown}")
            check(f"{rel}: the image runs chat-backup", "chat-backup" in d["entrypoint"], d["entrypoint"])
            continue
        prog = progs[name]
        unknown = [k for k in env if k not in prog.vars]
        check(f"{rel}: every [env] name is one of {name}'s variables", not unknown, f"unknown: {unknown}")
        text = open(f).read()
        check(f"{rel}: RPC_SECRET is a Fly secret (named on the Secrets line, not in [env])",
              "RPC_SECRET" not in env and re.search(r"^# Secrets \(fly secrets set[^\n]*\bRPC_SECRET\b", text, re.M) is not None)
        cfg, err = prog.config(env)
        if not check(f"{rel}: {name} accepts the configuration (--print-config)", cfg is not None, err):
            continue
        kill_ms = duration_ms(str(t.get("kill_timeout", "5s")))
        if name == "gateway":
            port = int(cfg["HTTP_PORT"])
            facts["gateway_fly_env"] = env
            hs = t.get("http_service")
            if not check(f"{rel}: the gateway has [http_service]", isinstance(hs, dict)):
                continue
            check(f"{rel}: internal_port {hs.get('internal_port')} = the gateway's HTTP_PORT ({port})", hs.get("internal_port") == port)
            check(f"{rel}: listens on all addresses for Fly's proxy (HTTP_ADDR {cfg['HTTP_ADDR']})", cfg["HTTP_ADDR"] == "0.0.0.0")
            check(f"{rel}: auto stop/start", hs.get("auto_stop_machines") in ("stop", "suspend", True) and hs.get("auto_start_machines") is True)
            check(f"{rel}: the image EXPOSEs {port}", port in d["expose"], f"EXPOSE {d['expose']}")
            hb, idle = duration_ms(cfg["HEARTBEAT_INTERVAL"]), duration_ms(cfg["HTTP_IDLE_TIMEOUT"])
            check(f"{rel}: SSE heartbeat {hb//1000} s < the idle timeouts (gateway {idle//1000} s, Fly proxy {FLY_PROXY_IDLE_S} s, Cloudflare {CLOUDFLARE_IDLE_S} s)",
                  hb < idle and hb < FLY_PROXY_IDLE_S * 1000 and hb < CLOUDFLARE_IDLE_S * 1000)
            check(f"{rel}: kill_timeout {kill_ms//1000} s leaves the gateway's 7 s stop wait", kill_ms > 7000)
            checks = hs.get("checks") or []
            check(f"{rel}: at least one HTTP health check", len(checks) > 0)
            facts.setdefault("gateway_paths", []).extend((rel, c.get("path"), port, c.get("port", port)) for c in checks)
            for c in checks:
                check(f"{rel}: health check port {c.get('port', port)} = HTTP_PORT", c.get("port", port) == port)
            for v in ("SESSION_URL", "RETRIEVAL_URL", "LLM_URL", "INDEXER_URL"):
                facts.setdefault("gateway_dials", {})[v] = cfg[v]
        else:
            var = prog.url_var()
            host, port = url_port(cfg[var])
            facts.setdefault("listen", {})[name] = (t.get("app"), port)
            check(f"{rel}: private only (no [[services]] or [http_service]: no public IP, no proxy)",
                  "services" not in t and "http_service" not in t)
            check(f"{rel}: {var} = {cfg[var]} listens on every address, IPv6 included (Fly's 6PN)", host in ("[::]",), cfg[var])
            rc, line = prog.serve_without(env, "RPC_SECRET")
            check(f"{rel}: {name} refuses to serve {cfg[var]} without RPC_SECRET (exit 2 naming it)",
                  rc == 2 and "RPC_SECRET" in line, f"exit {rc}: {line}")
            check(f"{rel}: the image EXPOSEs {port}", port in d["expose"], f"EXPOSE {d['expose']}")
            check(f"{rel}: the image HEALTHCHECK asks {name}'s Health RPC", f"--rpc\", \"{SERVICES[name]}\"" in d["healthcheck"]
                  or f"--rpc {SERVICES[name]}" in d["healthcheck"], d["healthcheck"])
            drain = duration_ms(cfg["DRAIN_TIMEOUT"])
            check(f"{rel}: kill_timeout {kill_ms//1000} s > DRAIN_TIMEOUT {drain//1000} s", kill_ms > drain)
            cks = t.get("checks", {})
            check(f"{rel}: a machine check", len(cks) > 0)
            for cname, c in cks.items():
                check(f"{rel}: check {cname} is TCP on the RPC port {port}", c.get("type") == "tcp" and c.get("port") == port,
                      f"type={c.get('type')} port={c.get('port')}")
    # The gateway dials each service's app at the port it listens on.
    for v, prog_name in (("SESSION_URL", "svc-session"), ("RETRIEVAL_URL", "svc-retrieval"), ("LLM_URL", "svc-llm"), ("INDEXER_URL", "svc-indexer")):
        dial = facts.get("gateway_dials", {}).get(v)
        app, port = facts.get("listen", {}).get(prog_name, (None, None))
        want = f"tcp://{app}.internal:{port}"
        check(f"fly: the gateway's {v} = {want} ({prog_name}'s app and port)", dial == want, f"gateway has {dial}")


def check_gateway_http(root, progs, facts):
    env = facts.get("gateway_fly_env", {})
    try:
        g = RunningGateway(progs["gateway"], env, root)
    except RuntimeError as e:
        check("gateway starts with the Fly settings", False, str(e))
        return
    try:
        for rel, path, _, _ in facts.get("gateway_paths", []):
            st, _, _ = g.get(path)
            check(f"{rel}: GET {path} answers 200 from the gateway", st == 200, f"got {st}")
        for path in facts.get("tg_paths", []):
            st, _, _ = g.get(path)
            check(f"aws target group: GET {path} answers 200 from the gateway", st == 200, f"got {st}")
        st, _, _ = g.get("/readyz")
        check("gateway: /readyz exists (503 here: no services)", st in (200, 503), f"got {st}")
        # The rate-limited path is the chat API: without a token it is 401, not 404.
        for path in facts.get("ratelimit_paths", []):
            st, _, _ = g.get(path, "POST", b'{"message":"hi"}', {"content-type": "application/json"})
            check(f"cloudflare: {path} is the gateway's chat route (POST without a token: 401)", st == 401, f"got {st}")
            check("cloudflare: the rate limit does not match resumes (/v1/chat/<turn>/events)",
                  not facts["ratelimit_match"]("/v1/chat/t_x/events"))
            check("cloudflare: the rate limit does not match the widget or health",
                  not any(facts["ratelimit_match"](p) for p in ("/widget/chat.js", "/healthz", "/v1/sessions", "/demo")))
        st, _, body = g.get("/demo")
        m = re.search(rb'/widget/chat\.[0-9a-f]{12}\.js', body)
        if check("gateway: the demo page names a versioned widget", st == 200 and m is not None, f"status {st}"):
            vpath = m.group(0).decode()
            st, h, _ = g.get(vpath)
            cc = {k.lower(): v for k, v in h.items()}.get("cache-control", "")
            check(f"gateway: {vpath} is served immutable ({cc})", st == 200 and "immutable" in cc)
            cache_match = facts.get("cache_match")
            if cache_match:
                check(f"cloudflare: the year-long cache rule matches {vpath}", cache_match("widget_versioned", vpath))
                check("cloudflare: ... and not /widget/chat.js (5-minute name)", not cache_match("widget_versioned", "/widget/chat.js"))
                check("cloudflare: the API is never cached", cache_match("api_bypass", "/v1/chat"))
        st, h, _ = g.get("/widget/chat.js")
        check("gateway: /widget/chat.js is served", st == 200, f"got {st}")
    finally:
        g.stop()


def check_aws(root, progs, facts):
    files = sorted(glob.glob(os.path.join(root, "deploy/aws/*.json")))
    tds = {}
    for f in files:
        rel = os.path.relpath(f, root)
        try:
            j = json.load(open(f))
        except json.JSONDecodeError as e:
            check(f"{rel}: parses", False, str(e))
            continue
        if "containerDefinitions" in j:
            tds[os.path.basename(f)[:-5]] = (rel, j)
        elif "HealthCheckPath" in j:
            port = int(progs["gateway"].config({"SESSION_SECRET": "x" * 40})[0]["HTTP_PORT"])
            check(f"{rel}: target group and health check on the gateway's port ({port})", j.get("Port") == port and str(j.get("HealthCheckPort")) == str(port),
                  f"Port={j.get('Port')} HealthCheckPort={j.get('HealthCheckPort')}")
            facts.setdefault("tg_paths", []).append(j["HealthCheckPath"])
        elif "IpPermissions" in j:
            facts["sg_ranges"] = sorted([r["CidrIp"] for p in j["IpPermissions"] for r in p.get("IpRanges", [])]
                                        + [r["CidrIpv6"] for p in j["IpPermissions"] for r in p.get("Ipv6Ranges", [])])
    check("aws: a task definition for each program and the backup job", set(tds) >= {*PROGRAMS, "backup"}, f"found {sorted(tds)}")
    for name, (rel, j) in tds.items():
        check(f"{rel}: Fargate, awsvpc", j.get("requiresCompatibilities") == ["FARGATE"] and j.get("networkMode") == "awsvpc")
        c = j["containerDefinitions"][0]
        env = {e["name"]: e["value"] for e in c.get("environment", [])}
        secrets = {s["name"] for s in c.get("secrets", [])}
        check(f"{rel}: runs as the image's non-root user", c.get("user") == "10001", f"user={c.get('user')}")
        if name == "backup":
            script = open(os.path.join(root, "deploy/backup/chat-backup.sh")).read()
            unknown = [k for k in [*env, *secrets] if not re.search(rf"\b{k}\b", script)]
            check(f"{rel}: every variable is read by chat-backup.sh", not unknown, f"unknown: {unknown}")
            check(f"{rel}: the ADR's backup variables come from secrets",
                  {"DATABASE_URL", "TIGRIS_BUCKET_NAME", "TIGRIS_ACCESS_KEY_ID", "TIGRIS_SECRET_ACCESS_KEY"} <= secrets)
            continue
        prog = progs[name]
        unknown = [k for k in [*env, *secrets] if k not in prog.vars]
        check(f"{rel}: every variable is one of {name}'s", not unknown, f"unknown: {unknown}")
        check(f"{rel}: RPC_SECRET comes from secrets (not environment)", "RPC_SECRET" in secrets and "RPC_SECRET" not in env)
        cfg, err = prog.config(env)
        if not check(f"{rel}: {name} accepts the configuration (--print-config)", cfg is not None, err):
            continue
        ports = [p["containerPort"] for p in c.get("portMappings", [])]
        hc = " ".join(c.get("healthCheck", {}).get("command", []))
        if name == "gateway":
            port = int(cfg["HTTP_PORT"])
            check(f"{rel}: containerPort {ports} = HTTP_PORT {port}", ports == [port])
            check(f"{rel}: healthCheck asks GET /healthz on {port} (chat-health --http)", f"chat-health --http {port} " in hc + " ", hc)
        else:
            _, port = url_port(cfg[prog.url_var()])
            check(f"{rel}: containerPort {ports} = the port {name} listens on ({port})", ports == [port])
            check(f"{rel}: healthCheck asks {name}'s Health RPC", f"chat-health --rpc {SERVICES[name]} " in hc + " ", hc)
            drain = duration_ms(cfg["DRAIN_TIMEOUT"])
            check(f"{rel}: stopTimeout {c.get('stopTimeout')} s > DRAIN_TIMEOUT", (c.get("stopTimeout") or 0) * 1000 > drain)


def rule_matcher(expr):
    """A tiny evaluator for the rule expressions used here (path eq/ne,
    starts_with, ends_with, and, or, parentheses) -> function(path)."""
    py = expr
    py = re.sub(r'starts_with\(http\.request\.uri\.path,\s*("[^"]*")\)', r'p.startswith(\1)', py)
    py = re.sub(r'ends_with\(http\.request\.uri\.path,\s*("[^"]*")\)', r'p.endswith(\1)', py)
    py = re.sub(r'http\.request\.uri\.path\s+eq\s+("[^"]*")', r'(p == \1)', py)
    py = re.sub(r'http\.request\.uri\.path\s+ne\s+("[^"]*")', r'(p != \1)', py)
    if re.search(r"http\.|\b(matches|contains|in)\b", py):
        raise ValueError(f"unsupported expression: {expr}")
    code = compile(py, "<rule>", "eval")
    return lambda p: bool(eval(code, {"__builtins__": {}}, {"p": p}))


def check_cloudflare(root, facts):
    d = os.path.join(root, "deploy/cloudflare")
    rl = json.load(open(os.path.join(d, "ratelimit-ruleset.json")))
    rules = rl.get("rules", [])
    check("cloudflare ratelimit: one rule", len(rules) == 1, f"{len(rules)} rules")
    r = rules[0]
    rt = r.get("ratelimit", {})
    check(f"cloudflare ratelimit: ADR-006's {ADR_RATE[0]} per {ADR_RATE[1] // 60} minutes per IP",
          (rt.get("requests_per_period"), rt.get("period")) == ADR_RATE and "ip.src" in rt.get("characteristics", []),
          json.dumps(rt))
    match = rule_matcher(r["expression"])
    facts["ratelimit_match"] = match
    facts["ratelimit_paths"] = [p for p in ("/v1/chat",) if match(p)]
    check("cloudflare ratelimit: the chat path only", facts["ratelimit_paths"] == ["/v1/chat"], r["expression"])
    cache = json.load(open(os.path.join(d, "cache-ruleset.json")))
    by_ref = {x["ref"]: rule_matcher(x["expression"]) for x in cache["rules"]}
    facts["cache_match"] = lambda ref, p: ref in by_ref and by_ref[ref](p)
    tf = open(os.path.join(d, "main.tf")).read()
    tf_exprs = re.findall(r'expression\s*=\s*"((?:[^"\\]|\\.)*)"', tf)
    tf_exprs = [e.replace('\\"', '"') for e in tf_exprs]
    json_exprs = [r["expression"]] + [x["expression"] for x in cache["rules"]]
    check("cloudflare: Terraform has the same rule expressions as the JSON", sorted(tf_exprs) == sorted(json_exprs),
          f"terraform {tf_exprs} vs json {json_exprs}")
    m = {k: re.search(rf"\b{k}\s*=\s*(\d+)", tf) for k in ("period", "requests_per_period", "mitigation_timeout")}
    check("cloudflare: Terraform has the same rate as the JSON",
          all(m[k] and int(m[k].group(1)) == rt.get(k) for k in m), str({k: v and v.group(1) for k, v in m.items()}))
    ips = sorted(l.strip() for l in open(os.path.join(d, "ips.txt")) if l.strip() and not l.startswith("#"))
    bad = []
    for r in ips:
        try:
            ipaddress.ip_network(r, strict=True)
        except ValueError:
            bad.append(r)
    check(f"cloudflare: ips.txt ({len(ips)} ranges) is a list of CIDR ranges", not bad and len(ips) > 10, f"not CIDRs: {bad}")
    # The gateway reads the list at start (CLOUDFLARE_IPS_FILE): its image
    # must carry the file where its ENV points.
    df = open(os.path.join(root, "deploy/docker/gateway.Dockerfile")).read()
    env = re.search(r"^ENV .*\bCLOUDFLARE_IPS_FILE=(\S+)", df, re.M)
    copied = re.search(r"^COPY deploy/cloudflare/ips\.txt (\S+)", df, re.M)
    check("cloudflare: the gateway image has ips.txt where CLOUDFLARE_IPS_FILE points",
          bool(env and copied and env.group(1) == copied.group(1)),
          f"ENV {env and env.group(1)}, COPY to {copied and copied.group(1)}")
    if "sg_ranges" in facts:
        check("aws: the ALB security group admits exactly ips.txt", facts["sg_ranges"] == ips)


def selftest(root, build):
    """The checker must fail on broken files: copies of the tree, each
    with one mistake, must each be rejected."""
    import shutil
    import tempfile
    mutations = [
        ("deploy/fly/gateway.toml", "internal_port = 8080", "internal_port = 8081"),
        ("deploy/fly/svc-llm.toml", "port = 7103", "port = 7193"),
        ("deploy/cloudflare/ratelimit-ruleset.json", '"period": 600', '"period": 60'),
        ("deploy/aws/svc-session.json", '"containerPort": 7101', '"containerPort": 7102'),
        ("deploy/fly/gateway.toml", 'path = "/healthz"', 'path = "/health"'),
        ("deploy/fly/svc-session.toml", "...): RPC_SECRET (", "...): ("),
        ("deploy/aws/svc-llm.json", '"name": "RPC_SECRET"', '"name": "RPC_SECRET_X"'),
    ]
    ok = True
    for rel, old, new in mutations:
        with tempfile.TemporaryDirectory(prefix="deploy-check.") as tmp:
            for d in ("deploy", "widget"):
                shutil.copytree(os.path.join(root, d), os.path.join(tmp, d), ignore=shutil.ignore_patterns("node_modules", "test"))
            os.makedirs(os.path.join(tmp, "gateway"))
            for f in ("auth.c", "metrics.c"):
                shutil.copy(os.path.join(root, "gateway", f), os.path.join(tmp, "gateway", f))
            os.symlink(os.path.join(root, "build"), os.path.join(tmp, "build"))
            f = os.path.join(tmp, rel)
            text = open(f).read()
            if old not in text:
                print(f"FAIL selftest: {rel} has no '{old}' to break")
                ok = False
                continue
            open(f, "w").write(text.replace(old, new, 1))
            r = subprocess.run([sys.executable, os.path.abspath(__file__), "--root", tmp, "--build", build, "--quiet"],
                               capture_output=True, text=True, timeout=120)
            caught = r.returncode == 1 and "FAIL" in r.stdout
            print(f"{'ok  ' if caught else 'FAIL'} selftest: {rel} with {new!r} is rejected")
            ok = ok and caught
    return ok


# Metrics the alert rules may use that this system does not produce itself
# (docs/operations.md says where they come from).
EXTERNAL_METRICS = {"chat_infra_cost_usd_month", "probe_success"}


def check_prometheus(root):
    try:
        import yaml
    except ImportError:
        check("prometheus: python3-yaml is installed (deploy/local/install-deps.sh)", False)
        return
    path = os.path.join(root, "deploy/prometheus/alerts.yml")
    doc = yaml.safe_load(open(path))
    rules = [r for g in doc.get("groups", []) for r in g.get("rules", []) if "alert" in r]
    records = {r["record"] for g in doc.get("groups", []) for r in g.get("rules", []) if "record" in r}
    check(f"prometheus: {len(rules)} alert rules, each with alert, expr and a summary",
          rules and all(r.get("alert") and r.get("expr") and r.get("annotations", {}).get("summary") for r in rules))
    produced = open(os.path.join(root, "gateway/metrics.c")).read() + open(os.path.join(root, "deploy/backup/chat-backup.sh")).read()
    for r in rules:
        names = set(re.findall(r"\b((?:chat|probe)_[a-z0-9_]+)", r["expr"]))
        used_records = set(re.findall(r"\b(chat:[a-z0-9_]+)", r["expr"]))
        if used_records - records:
            check(f"prometheus: {r['alert']} uses recorded series that are defined", False, str(used_records - records))
        names |= {m for rec in used_records & records for g in doc["groups"] for x in g["rules"] if x.get("record") == rec
                  for m in re.findall(r"\b((?:chat|probe)_[a-z0-9_]+)", x["expr"])}
        missing = [n for n in names if n not in EXTERNAL_METRICS
                   and re.sub(r"_(bucket|sum|count)$", "", n) not in produced]
        check(f"prometheus: {r['alert']} uses only metrics that exist ({', '.join(sorted(names))})", names and not missing,
              f"no program produces {missing}")
    adr = [r for r in rules if r.get("labels", {}).get("adr") == "006"]
    check(f"prometheus: ADR-006 review triggers with a rule: {len(adr)}", len(adr) >= 4)


def main():
    global quiet
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--selftest", action="store_true", help="also check that broken copies of the files are rejected")
    a = ap.parse_args()
    quiet = a.quiet
    root = os.path.abspath(a.root)
    bindir = os.path.join(root, a.build, "bin")
    try:
        progs = {p: Program(bindir, p) for p in PROGRAMS}
    except (OSError, RuntimeError) as e:
        print(f"deploy-check: the built programs are needed ({bindir}): {e}")
        return 2
    facts = {}
    check_fly(root, progs, facts)
    check_aws(root, progs, facts)
    check_cloudflare(root, facts)
    check_prometheus(root)
    check_gateway_http(root, progs, facts)
    print(f"deploy-check: {passed} passed, {failed} failed")
    if a.selftest and not selftest(root, a.build):
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
