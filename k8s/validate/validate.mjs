// Offline checks of ring's rendered manifests (the output of `kubectl kustomize k8s/`):
//
// 1. schema: every object against the Kubernetes OpenAPI schema of its kind (kubernetes-models,
//    compiled JSON-schema validators: types, required fields, formats);
// 2. fields: every object as a typed TypeScript literal (kubernetes-types, checked by tsc), so a
//    misspelt or misplaced field fails instead of being dropped by the API server, which the
//    JSON schemas allow;
// 3. ring: what the sidecar needs to work, checked across objects (the Service the join name
//    points at exists and is headless, the probes reach the admin port, ...).
//
// Usage: node validate.mjs RENDERED.yaml       Exit 0 when every check passes, else 1.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import YAML from "yaml";

const here = path.dirname(fileURLToPath(import.meta.url));
let passed = 0;
let failed = 0;

function check(name, ok, why) {
    if (ok) {
        passed++;
        console.log(`ok    ${name}`);
    } else {
        failed++;
        console.log(`FAIL  ${name}${why ? ": " + why : ""}`);
    }
}

function objName(o) {
    return `${o.kind}/${o.metadata?.name}`;
}

function load(file) {
    const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
    const objs = [];
    for (const d of docs) {
        check(`yaml document ${objs.length + 1} parses`, d.errors.length === 0,
              d.errors.map((e) => e.message).join("; "));
        const o = d.toJS();
        if (o !== null) {
            objs.push(o);
        }
    }
    return objs;
}

// ---- 1. schema ---------------------------------------------------------------------------

async function checkSchemas(objs) {
    for (const o of objs) {
        const mod = `kubernetes-models/${o.apiVersion}/${o.kind}`;
        let Model;
        try {
            Model = (await import(mod))[o.kind];
        } catch (e) {
            check(`schema ${objName(o)}`, false, `no model ${mod} (${e.message})`);
            continue;
        }
        let why = "";
        try {
            new Model(o).validate();
        } catch (e) {
            why = e.message;
        }
        check(`schema ${objName(o)} (${o.apiVersion})`, why === "", why);
    }
}

// ---- 2. fields ---------------------------------------------------------------------------

function typesModule(apiVersion) {
    const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["core", apiVersion];
    return `kubernetes-types/${group.split(".")[0]}/${version}`;
}

function checkFields(objs) {
    const lines = [];
    objs.forEach((o, i) => {
        lines.push(`import type { ${o.kind} as T${i} } from "${typesModule(o.apiVersion)}";`);
        lines.push(`export const o${i}: T${i} = ${JSON.stringify(o, null, 2)};`);
    });
    // The file sits beside node_modules so tsc resolves kubernetes-types from there.
    const file = path.join(here, `.rendered-${process.pid}.ts`);
    fs.writeFileSync(file, lines.join("\n") + "\n");
    let diags;
    try {
        const program = ts.createProgram([file], {
            noEmit: true,
            strict: true,
            module: ts.ModuleKind.CommonJS,
            moduleResolution: ts.ModuleResolutionKind.Node10,
            types: [],
        });
        diags = ts.getPreEmitDiagnostics(program);
    } finally {
        fs.unlinkSync(file);
    }
    const text = diags.map((d) => {
        const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
        if (d.file === undefined) {
            return msg;
        }
        const { line } = d.file.getLineAndCharacterOfPosition(d.start);
        return `${d.file.text.split("\n")[line].trim()} -> ${msg}`;
    });
    check(`fields: ${objs.length} objects have only known fields of the right types`,
          diags.length === 0, "\n      " + text.join("\n      "));
}

// ---- 3. ring -----------------------------------------------------------------------------

function find(objs, kind) {
    return objs.filter((o) => o.kind === kind);
}

function matches(selector, labels) {
    return Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);
}

function envValue(c, name) {
    return (c.env ?? []).find((e) => e.name === name);
}

function portNumber(c, port) {
    if (typeof port === "number") {
        return port;
    }
    return (c.ports ?? []).find((p) => p.name === port)?.containerPort;
}

function checkRing(objs) {
    const sets = find(objs, "StatefulSet");
    check("one StatefulSet", sets.length === 1, `found ${sets.length}`);
    if (sets.length !== 1) {
        return;
    }
    const sts = sets[0];
    const pod = sts.spec.template;
    const spec = pod.spec;
    const labels = pod.metadata?.labels;
    const ringd = (spec.initContainers ?? []).find((c) => c.name === "ringd");
    check("ringd is a native sidecar (init container, restartPolicy Always)",
          ringd?.restartPolicy === "Always");
    if (ringd === undefined) {
        return;
    }
    const app = spec.containers.filter((c) => c.name !== "ringd");
    check("an app container runs beside ringd", app.length >= 1);

    // Settings from the generated ConfigMap.
    const cmName = ringd.envFrom?.find((e) => e.configMapRef)?.configMapRef.name;
    const cm = find(objs, "ConfigMap").find((m) => m.metadata.name === cmName);
    check("ringd's settings ConfigMap is rendered", cm !== undefined, `envFrom names ${cmName}`);
    const conf = { ...(cm?.data ?? {}) };
    for (const e of ringd.env ?? []) {
        if (e.value !== undefined) {
            conf[e.name] = e.value;
        }
    }

    // Identity from the downward API.
    for (const [name, field] of [["POD_IP", "status.podIP"], ["POD_NAME", "metadata.name"],
                                 ["POD_NAMESPACE", "metadata.namespace"]]) {
        check(`${name} from the downward API (${field})`,
              envValue(ringd, name)?.valueFrom?.fieldRef?.fieldPath === field);
    }

    // Discovery: --join dns:<headless Service>.$(POD_NAMESPACE).svc.cluster.local:<gossip port>.
    const join = /^dns:([a-z0-9-]+)\.\$\(POD_NAMESPACE\)\.svc\.cluster\.local:(\d+)$/.exec(
        conf.RINGD_JOIN ?? "");
    check("RINGD_JOIN is dns:SERVICE.$(POD_NAMESPACE).svc.cluster.local:PORT", join !== null,
          `it is ${conf.RINGD_JOIN}`);
    const svc = find(objs, "Service").find((s) => s.metadata.name === join?.[1]);
    check(`the join name's Service ${join?.[1]} exists`, svc !== undefined);
    if (svc !== undefined) {
        check("that Service is headless", svc.spec.clusterIP === "None");
        check("that Service publishes not-ready addresses (pods join before they are ready)",
              svc.spec.publishNotReadyAddresses === true);
        check("that Service selects the pods", matches(svc.spec.selector, labels));
        check("the StatefulSet's serviceName is that Service",
              sts.spec.serviceName === svc.metadata.name);
        const gossip = Number(join[2]);
        const bindPort = Number((conf.RINGD_BIND ?? "0.0.0.0:7946").split(":").pop());
        check("the join port is ringd's gossip port", gossip === bindPort,
              `join ${gossip}, bind ${bindPort}`);
        for (const proto of ["UDP", "TCP"]) {
            check(`the Service and ringd expose gossip ${gossip}/${proto}`,
                  svc.spec.ports.some((p) => p.port === gossip && p.protocol === proto) &&
                  ringd.ports.some((p) => p.containerPort === gossip && p.protocol === proto));
        }
    }

    // Local API socket on a shared emptyDir.
    const sock = conf.RINGD_SOCKET ?? "/run/ringd/ringd.sock";
    const sockDir = path.posix.dirname(sock);
    const mountOf = (c) => (c.volumeMounts ?? []).find((m) => m.mountPath === sockDir)?.name;
    const vol = spec.volumes.find((v) => v.name === mountOf(ringd));
    check(`the socket's directory ${sockDir} is an emptyDir`, vol?.emptyDir !== undefined);
    check("every app container mounts the socket's emptyDir",
          app.every((c) => mountOf(c) === vol?.name));

    // Probes reach the admin server, which must listen beyond loopback for the kubelet.
    const admin = conf.RINGD_ADMIN ?? "127.0.0.1:7947";
    const adminPort = Number(admin.split(":").pop());
    check("admin listens on every address (probes and scrapes come to the pod IP)",
          admin.startsWith("0.0.0.0:"), `RINGD_ADMIN=${admin}`);
    for (const [probe, want] of [["startupProbe", "/healthz"], ["readinessProbe", "/readyz"],
                                 ["livenessProbe", "/healthz"]]) {
        const g = ringd[probe]?.httpGet;
        check(`${probe} GETs ${want} on the admin port`,
              g?.path === want && portNumber(ringd, g.port) === adminPort,
              JSON.stringify(g));
    }

    // Graceful leave.
    const preStop = ringd.lifecycle?.preStop?.exec?.command ?? [];
    check("preStop runs ringctl leave", preStop.at(-2)?.endsWith("ringctl") &&
          preStop.at(-1) === "leave", JSON.stringify(preStop));
    const grace = spec.terminationGracePeriodSeconds ?? 30;
    const leaveSecondsMax = 3;
    check("terminationGracePeriodSeconds leaves time for the app and the 3 s leave",
          grace >= 2 * leaveSecondsMax, `${grace}`);

    // Resources on every container.
    for (const c of [...(spec.initContainers ?? []), ...spec.containers]) {
        const r = c.resources ?? {};
        check(`${c.name}: cpu and memory requests and limits`,
              ["requests", "limits"].every((k) => r[k]?.cpu && r[k]?.memory));
    }

    // The key file from a Secret.
    const keyDir = path.posix.dirname(conf.RINGD_KEYFILE ?? "");
    const keyVol = spec.volumes.find(
        (v) => v.name === (ringd.volumeMounts ?? []).find((m) => m.mountPath === keyDir)?.name);
    check(`the key file ${conf.RINGD_KEYFILE} comes from a Secret`,
          conf.RINGD_KEYFILE !== undefined && keyVol?.secret?.secretName !== undefined);

    // The image's user.
    check("pods run as the image's non-root user 65532",
          spec.securityContext?.runAsNonRoot === true && spec.securityContext?.runAsUser === 65532);

    // Disruption budget and metrics.
    const pdb = find(objs, "PodDisruptionBudget")[0];
    check("a PodDisruptionBudget selects the pods",
          pdb !== undefined && matches(pdb.spec.selector.matchLabels, labels));
    const ann = pod.metadata?.annotations ?? {};
    check("Prometheus scrape annotations point at /metrics on the admin port",
          ann["prometheus.io/scrape"] === "true" && Number(ann["prometheus.io/port"]) === adminPort &&
          ann["prometheus.io/path"] === "/metrics");
}

const file = process.argv[2];
if (!file) {
    console.error("usage: node validate.mjs RENDERED.yaml");
    process.exit(2);
}
const objs = load(file);
check("the manifests render to objects", objs.length > 0);
await checkSchemas(objs);
checkFields(objs);
checkRing(objs);
console.log(`\nk8s manifests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
