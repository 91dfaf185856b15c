// What ringd needs of the pods it runs in, checked across the rendered objects of one
// kustomization: for every Deployment or StatefulSet with a "ringd" init container (the
// example StatefulSet, or an app that components/ringd-sidecar injected), the Service its
// join name resolves, the probes, the drain hook and grace period, the app's port and health
// path, the key Secret, the disruption budget, the network policy and the metrics.
import path from "node:path";

// ringd's leave takes at most this long (docs/operations.md), and an app gets at least this
// long to stop after its preStop drain: the grace period must hold both after the drain.
const LEAVE_SECONDS_MAX = 3;
const APP_STOP_SECONDS_MIN = 5;
// The Secret and key k8s/README.md creates (`--from-file=keyfile=...`).
const KEY_SECRET = "ring-gossip-key";
const KEY_NAME = "keyfile";
// The ports each mesh annotation must leave out of the proxy: gossip both ways, and admin
// inbound, where the kubelet's probes and the drain hook arrive in plain HTTP.
const MESH_PORTS = {
    "traffic.sidecar.istio.io/excludeInboundPorts": ["7946", "7947"],
    "traffic.sidecar.istio.io/excludeOutboundPorts": ["7946"],
    "config.linkerd.io/skip-inbound-ports": ["7946", "7947"],
    "config.linkerd.io/skip-outbound-ports": ["7946"],
};

export function matches(selector, labels) {
    return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

function portNumber(c, port) {
    if (typeof port === "number") {
        return port;
    }
    return (c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

function lastPort(addr) {
    return Number((addr ?? "").split(":").pop());
}

// "20s", "1m", "500ms" -> seconds; NaN when not a duration.
function seconds(d) {
    const m = /^(\d+)(ms|s|m|h)$/.exec(d ?? "");
    return m === null ? NaN : Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2]];
}

// ringd's settings as the kubelet hands them over: the envFrom ConfigMaps in order (a later
// one wins), then env; $(VAR) of a literal env value expanded as the kubelet does.
function settings(objs, ringd) {
    const conf = {};
    const maps = [];
    for (const ref of (ringd.envFrom ?? []).map((e) => e.configMapRef).filter(Boolean)) {
        const cm = objs.find((o) => o.kind === "ConfigMap" && o.metadata.name === ref.name);
        maps.push({ ref, cm });
        Object.assign(conf, cm?.data ?? {});
    }
    for (const e of ringd.env ?? []) {
        if (e.value !== undefined) {
            conf[e.name] = e.value.replace(/\$\(([A-Za-z_][A-Za-z0-9_]*)\)/g,
                                           (all, v) => (v in conf ? conf[v] : all));
        }
    }
    return { conf, maps };
}

function checkJoin(check, objs, w, ringd, conf) {
    const labels = w.spec.template.metadata?.labels;
    const join = /^dns:([a-z0-9-]+)\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:(\d+)$/.exec(
        conf.RINGD_JOIN ?? "");
    check("RINGD_JOIN is dns:SERVICE.$(POD_NAMESPACE).svc.cluster.local:PORT", join !== null,
          `it is ${conf.RINGD_JOIN}`);
    const svc = objs.find((o) => o.kind === "Service" && o.metadata.name === join?.[1]);
    check(`the join name's Service ${join?.[1]} is rendered`, svc !== undefined);
    if (svc === undefined) {
        return;
    }
    check("that Service is headless", svc.spec.clusterIP === "None");
    check("that Service publishes not-ready addresses (pods join before they are ready)",
          svc.spec.publishNotReadyAddresses === true);
    check("that Service selects the pods", svc.spec.selector !== undefined &&
          matches(svc.spec.selector, labels));
    const gossip = Number(join[2]);
    check("the join port is ringd's gossip port", gossip === lastPort(conf.RINGD_BIND ?? ":7946"),
          `join ${gossip}, bind ${conf.RINGD_BIND}`);
    for (const proto of ["UDP", "TCP"]) {
        check(`the Service and ringd expose gossip ${gossip}/${proto}`,
              svc.spec.ports.some((p) => p.port === gossip && p.protocol === proto) &&
              ringd.ports.some((p) => p.containerPort === gossip && p.protocol === proto));
    }
}

// The startup probe gates the app's start, so it must not wait for what only a running app
// gives: its health (app_healthy), and the drain that ringd holds until the app first passes
// it (not_draining). Plain /readyz there never passes with RINGD_APP_HEALTH set.
const STARTUP_PATH = "/readyz?exclude=app_healthy&exclude=not_draining";

function checkProbes(check, ringd, adminPort) {
    for (const [probe, want] of [["startupProbe", [STARTUP_PATH]], ["readinessProbe", ["/readyz"]],
                                 ["livenessProbe", ["/livez", "/healthz"]]]) {
        const g = ringd[probe]?.httpGet;
        check(`${probe} GETs ${want.join(" or ")} on the admin port`,
              want.includes(g?.path) && portNumber(ringd, g.port) === adminPort,
              JSON.stringify(g));
    }
}

// Kubernetes stops the app containers first, so the drain is the app's preStop; then the
// grace period has to hold the drain, the app's stop and ringd's leave. With delayed
// rebalance (RINGD_DELAYED_REBALANCE, components/ringd-delayed-rebalance) the preStop
// announces a restart instead: a plain drain there would move the keys at every stop anyway,
// and a restart announced without the setting is refused.
function checkStop(check, spec, app, adminPort, conf) {
    const delayed = (conf.RINGD_DELAYED_REBALANCE ?? "0") !== "0";
    const hook = delayed ? "/v1/drain?wait=1&restart=1" : "/v1/drain?wait=1";
    for (const c of app) {
        const g = c.lifecycle?.preStop?.httpGet;
        check(`${c.name}: preStop GETs ${hook} on ringd's admin port` +
              (delayed ? " (RINGD_DELAYED_REBALANCE is set)" : ""),
              g?.path === hook && g.port === adminPort && g.host === undefined,
              JSON.stringify(c.lifecycle?.preStop));
    }
    const drain = seconds(conf.RINGD_DRAIN_TIMEOUT ?? "20s");
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    check(`terminationGracePeriodSeconds ${grace} holds the drain (${drain} s), the app's stop ` +
          `and the leave`, grace >= drain + APP_STOP_SECONDS_MIN + LEAVE_SECONDS_MAX,
          `RINGD_DRAIN_TIMEOUT=${conf.RINGD_DRAIN_TIMEOUT}`);
    check("ringd has no preStop of its own (its SIGTERM leaves)",
          spec.initContainers.find((c) => c.name === "ringd").lifecycle?.preStop === undefined);
}

function checkApp(check, app, conf) {
    const port = lastPort(conf.RINGD_APP);
    check(`RINGD_APP ${conf.RINGD_APP} is on loopback, a port an app container declares`,
          /^127\.0\.0\.1:\d+$/.test(conf.RINGD_APP ?? "") &&
          app.some((c) => (c.ports ?? []).some((p) => p.containerPort === port)));
    check(`RINGD_APP_HEALTH ${conf.RINGD_APP_HEALTH} is a path`,
          /^\/\S*$/.test(conf.RINGD_APP_HEALTH ?? ""));
}

function checkKey(check, spec, ringd, conf) {
    const keyDir = path.posix.dirname(conf.RINGD_KEYFILE ?? "");
    const mount = (ringd.volumeMounts ?? []).find((m) => m.mountPath === keyDir);
    const vol = (spec.volumes ?? []).find((v) => v.name === mount?.name);
    check(`the key file ${conf.RINGD_KEYFILE} is key "${KEY_NAME}" of the Secret ${KEY_SECRET}`,
          vol?.secret?.secretName === KEY_SECRET && vol.secret.items === undefined &&
          path.posix.basename(conf.RINGD_KEYFILE) === KEY_NAME, JSON.stringify(vol));
    check("the key's volume is mounted read-only, in ringd only", mount?.readOnly === true &&
          spec.containers.every((c) => !(c.volumeMounts ?? []).some((m) => m.name === vol?.name)));
}

function checkPolicy(check, objs, labels) {
    const pols = objs.filter((o) => o.kind === "NetworkPolicy" &&
                             matches(o.spec.podSelector.matchLabels, labels));
    if (pols.length === 0) {
        return;
    }
    const allows = (port, proto, from) => pols.some((p) => (p.spec.ingress ?? []).some((r) =>
        (r.ports ?? []).some((q) => q.port === port && (q.protocol ?? "TCP") === proto) &&
        (from === undefined || (r.from ?? []).some((f) => f.namespaceSelector === undefined &&
                                                   matches(f.podSelector?.matchLabels, from)))));
    for (const proto of ["UDP", "TCP"]) {
        check(`the NetworkPolicy lets the ring's pods reach gossip 7946/${proto}`,
              allows(7946, proto, labels));
    }
    check("the NetworkPolicy lets some scraper reach admin 7947", allows(7947, "TCP"));
}

function checkMetrics(check, objs, w, ringd, adminPort) {
    const labels = w.spec.template.metadata?.labels;
    const ann = w.spec.template.metadata?.annotations ?? {};
    const annotated = ann["prometheus.io/scrape"] === "true" &&
        Number(ann["prometheus.io/port"]) === adminPort && ann["prometheus.io/path"] === "/metrics";
    const monitored = objs.some((o) => o.kind === "PodMonitor" &&
        matches(o.spec.selector.matchLabels, labels) &&
        o.spec.podMetricsEndpoints.some((e) => portNumber(ringd, e.port) === adminPort &&
                                         e.path === "/metrics"));
    check("/metrics on the admin port is scraped (annotations or a PodMonitor)",
          annotated || monitored);
    const mesh = Object.entries(MESH_PORTS).filter(
        ([a, ports]) => !ports.every((p) => (ann[a] ?? "").split(",").includes(p)));
    check("Istio and Linkerd leave gossip and inbound admin alone", mesh.length === 0,
          mesh.map(([a]) => a).join(", "));
}

function checkWorkload(check, objs, w) {
    const spec = w.spec.template.spec;
    const labels = w.spec.template.metadata?.labels;
    const ringd = spec.initContainers.find((c) => c.name === "ringd");
    check("ringd is a native sidecar (init container, restartPolicy Always)",
          ringd.restartPolicy === "Always");
    check("ringd is the first init container (the app's own start after it has joined)",
          spec.initContainers[0] === ringd);
    const app = spec.containers;
    check("an app container runs beside ringd", app.length >= 1);
    const { conf, maps } = settings(objs, ringd);
    check("ringd's ConfigMaps are rendered (or optional)",
          maps.length > 0 && maps.every((m) => m.cm !== undefined || m.ref.optional === true),
          maps.filter((m) => m.cm === undefined).map((m) => m.ref.name).join(", "));
    for (const [name, field] of [["POD_IP", "status.podIP"], ["POD_NAME", "metadata.name"],
                                 ["POD_NAMESPACE", "metadata.namespace"]]) {
        check(`${name} from the downward API (${field})`,
              (ringd.env ?? []).find((e) => e.name === name)?.valueFrom?.fieldRef?.fieldPath ===
              field);
    }
    checkJoin(check, objs, w, ringd, conf);
    const sockDir = path.posix.dirname(conf.RINGD_SOCKET ?? "/run/ringd/ringd.sock");
    const sockVol = (ringd.volumeMounts ?? []).find((m) => m.mountPath === sockDir)?.name;
    check(`the socket's directory ${sockDir} is an emptyDir`,
          (spec.volumes ?? []).find((v) => v.name === sockVol)?.emptyDir !== undefined);
    const adminPort = lastPort(conf.RINGD_ADMIN ?? "127.0.0.1:7947");
    check("admin listens on every address (probes, hooks and scrapes come to the pod IP)",
          (conf.RINGD_ADMIN ?? "").startsWith("0.0.0.0:"), `RINGD_ADMIN=${conf.RINGD_ADMIN}`);
    checkProbes(check, ringd, adminPort);
    checkStop(check, spec, app, adminPort, conf);
    checkApp(check, app, conf);
    checkKey(check, spec, ringd, conf);
    for (const c of [...spec.initContainers, ...app]) {
        const r = c.resources ?? {};
        check(`${c.name}: cpu and memory requests and limits`,
              ["requests", "limits"].every((k) => r[k]?.cpu && r[k]?.memory));
    }
    check("ringd runs as the image's non-root user 65532",
          (ringd.securityContext?.runAsUser ?? spec.securityContext?.runAsUser) === 65532);
    const pdbs = objs.filter((o) => o.kind === "PodDisruptionBudget" &&
                             matches(o.spec.selector.matchLabels, labels));
    check("at most one PodDisruptionBudget selects the pods (two block every eviction)",
          pdbs.length <= 1);
    checkPolicy(check, objs, labels);
    checkMetrics(check, objs, w, ringd, adminPort);
}

// Every Service port says what it carries, for meshes and gateways (gossip is opaque).
export function checkAppProtocol(check, objs, set) {
    for (const svc of objs.filter((o) => o.kind === "Service")) {
        check(`${set} Service/${svc.metadata.name}: every port names its appProtocol`,
              svc.spec.ports.every((p) => p.appProtocol !== undefined));
    }
}

// Calls check(name, ok, why) for every workload with ringd; returns how many there were.
export function checkRing(check, objs, set) {
    const workloads = objs.filter((o) => ["Deployment", "StatefulSet"].includes(o.kind) &&
        (o.spec.template.spec.initContainers ?? []).some((c) => c.name === "ringd"));
    check(`${set}: a workload runs ringd`, workloads.length > 0);
    for (const w of workloads) {
        checkWorkload((name, ok, why) => check(`${set} ${w.kind}/${w.metadata.name}: ${name}`,
                                               ok, why), objs, w);
    }
    return workloads.length;
}
