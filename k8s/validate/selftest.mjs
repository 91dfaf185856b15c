// The checks of validate.mjs can fail: each broken manifest of the table below, made from the
// rendered examples/web by one edit, must fail the check it names (and the unbroken one must
// pass them all). The schema and field checks run in validate.mjs itself, on one file broken
// twice.
//
// Usage: node selftest.mjs RENDERED-WEB.yaml     Exit 0 when every broken manifest is caught.
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import { checkApart, checkInstance } from "./labels.mjs";
import { checkRestricted } from "./pss.mjs";
import { checkAppProtocol, checkRing } from "./ring.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));

// The object of |kind| whose name starts with |name| (generated names end in a hash).
const of = (objs, kind, name) =>
    objs.find((o) => o.kind === kind && o.metadata.name.startsWith(name));
const pod = (objs) => of(objs, "Deployment", "web-app").spec.template;
const ringd = (objs) => pod(objs).spec.initContainers.find((c) => c.name === "ringd");
const app = (objs) => pod(objs).spec.containers[0];
const gossipSvc = (objs) => objs.find((o) => o.kind === "Service" && o.spec.clusterIP === "None");

// [what is broken, the check that must fail (a substring of its name), the edit].
const broken = [
    ["the gossip Service selects no instance", "web-ringd-gossip spec.selector selects by",
     (o) => delete gossipSvc(o).spec.selector["app.kubernetes.io/instance"]],
    ["ringd may escalate privileges", "privilege escalation",
     (o) => { ringd(o).securityContext.allowPrivilegeEscalation = true; }],
    ["the app adds NET_ADMIN", "restricted, capabilities",
     (o) => { app(o).securityContext.capabilities.add = ["NET_ADMIN"]; }],
    ["a hostPath volume", "volume types",
     (o) => pod(o).spec.volumes.push({ name: "h", hostPath: { path: "/" } })],
    ["the host's network", "host namespaces", (o) => { pod(o).spec.hostNetwork = true; }],
    ["no seccomp profile for the app", "restricted, seccomp",
     (o) => delete pod(o).spec.securityContext.seccompProfile],
    ["the app as root", "restricted, running as non-root",
     (o) => { app(o).securityContext.runAsNonRoot = false; }],
    ["no drain hook", "preStop GETs /v1/drain", (o) => delete app(o).lifecycle],
    ["delayed rebalance with a hook that drains (keys move at every stop)",
     "preStop GETs /v1/drain?wait=1&restart=1",
     (o) => { of(o, "ConfigMap", "web-ringd-app-").data.RINGD_DELAYED_REBALANCE = "60s"; }],
    ["a restart hook without delayed rebalance (refused by ringd)", "preStop GETs /v1/drain",
     (o) => { app(o).lifecycle.preStop.httpGet.path = "/v1/drain?wait=1&restart=1"; }],
    ["a grace period shorter than the drain", "terminationGracePeriodSeconds",
     (o) => { pod(o).spec.terminationGracePeriodSeconds = 25; }],
    ["RINGD_APP on a port the app does not serve", "RINGD_APP ",
     (o) => { of(o, "ConfigMap", "web-ringd-app-").data.RINGD_APP = "127.0.0.1:9090"; }],
    ["the key from another Secret", "the key file",
     (o) => { pod(o).spec.volumes.find((v) => v.secret).secret.secretName = "keys"; }],
    ["the app starts before ringd has joined", "startupProbe GETs /readyz",
     (o) => { ringd(o).startupProbe.httpGet.path = "/livez"; }],
    ["a startup probe that waits for the app it holds back", "startupProbe GETs /readyz",
     (o) => { ringd(o).startupProbe.httpGet.path = "/readyz"; }],
    ["ringd as a plain init container", "native sidecar", (o) => delete ringd(o).restartPolicy],
    ["not-ready pods out of DNS", "not-ready addresses",
     (o) => { gossipSvc(o).spec.publishNotReadyAddresses = false; }],
    ["gossip over UDP refused by the NetworkPolicy", "gossip 7946/UDP",
     (o) => { of(o, "NetworkPolicy", "web-ringd").spec.ingress[0].ports.shift(); }],
    ["a PodMonitor on the wrong port", "/metrics on the admin port",
     (o) => { of(o, "PodMonitor", "web-ringd").spec.podMetricsEndpoints[0].port = "http"; }],
    ["Istio intercepting admin", "Istio and Linkerd",
     (o) => {
         pod(o).metadata.annotations["traffic.sidecar.istio.io/excludeInboundPorts"] = "7946";
     }],
    ["a join name no Service has", "the join name's Service",
     (o) => { ringd(o).env.find((e) => e.name === "RING_SERVICE").value = "nowhere"; }],
    ["two disruption budgets", "at most one PodDisruptionBudget",
     (o) => ["a", "b"].forEach((n) => o.push({ kind: "PodDisruptionBudget", metadata: { name: n },
                                               spec: { selector: { matchLabels: {} } } }))],
    ["a Service port without appProtocol", "every port names its appProtocol",
     (o) => delete gossipSvc(o).spec.ports[0].appProtocol],
    ["a second install whose pods this one selects", "no selector of web picks a pod of other",
     (o) => {
         const labels = { ...pod(o).metadata.labels };
         o.other = [{ kind: "Deployment", metadata: { name: "x" },
                      spec: { selector: {}, template: { metadata: { labels }, spec: {} } } }];
     }],
];

// The names of the checks that fail on |objs|.
function failures(objs) {
    const failed = [];
    const check = (name, ok) => ok || failed.push(name);
    for (const o of objs.filter((o) => o.spec?.template?.spec !== undefined)) {
        checkRestricted(check, `web ${o.kind}/${o.metadata.name}`, o.spec.template);
    }
    checkAppProtocol(check, objs, "web");
    checkInstance(check, objs, "web");
    checkRing(check, objs, "web");
    checkApart(check, [["web", objs], ["other", objs.other ?? []]]);
    return failed;
}

const file = process.argv[2];
if (!file) {
    console.error("usage: node selftest.mjs RENDERED-WEB.yaml");
    process.exit(2);
}
const text = fs.readFileSync(file, "utf8");
const fresh = () => YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o !== null);
let passed = 0;
let failed = 0;
function expect(name, ok, why) {
    ok ? passed++ : failed++;
    console.log(`${ok ? "ok  " : "FAIL"}  selftest: ${name}${ok ? "" : ": " + why}`);
}

const clean = failures(fresh());
expect("the rendered examples/web passes every check", clean.length === 0, clean.join("; "));
for (const [what, want, edit] of broken) {
    const objs = fresh();
    edit(objs);
    const got = failures(objs);
    expect(`${what} fails "${want}"`, got.some((n) => n.includes(want)),
           `failed: ${got.join("; ") || "nothing"}`);
}

// Schema and fields: a string where an integer goes, a misspelt PodMonitor field.
const objs = fresh();
of(objs, "Deployment", "web-app").spec.replicas = "three";
of(objs, "PodMonitor", "web-ringd").spec.podMetricsEndpoints[0].intervall = "30s";
const bad = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "ring-selftest-")), "bad.yaml");
fs.writeFileSync(bad, objs.map((o) => YAML.stringify(o)).join("---\n"));
const run = spawnSync(process.execPath, [path.join(here, "validate.mjs"), `web=${bad}`],
                      { encoding: "utf8" });
fs.rmSync(path.dirname(bad), { recursive: true });
const lines = run.stdout.split("\n").filter((l) => l.startsWith("FAIL"));
expect("replicas: \"three\" fails the Deployment's schema",
       lines.some((l) => l.includes("schema Deployment/web-app")), lines.join("; "));
expect("a misspelt PodMonitor field fails the field check",
       lines.some((l) => l.includes(" fields (Kubernetes ")) && run.stdout.includes('"intervall": "30s" ->'),
       run.stdout.slice(-400));
expect("validate.mjs exits 1 on them", run.status === 1, `exit ${run.status}`);
console.log(`\nk8s checks selftest: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
