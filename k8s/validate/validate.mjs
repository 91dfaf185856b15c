// Offline checks of ring's rendered manifests (the output of `kubectl kustomize` of k8s/ and
// of k8s/examples/web, which uses the components under k8s/components/):
//
// 1. schema: every object against the OpenAPI schema of its kind (kubernetes-models, and
//    @kubernetes-models/prometheus-operator for the PodMonitor: compiled JSON-schema
//    validators: types, required fields, formats);
// 2. fields: every object as a typed TypeScript literal (kubernetes-types of Kubernetes 1.29
//    and 1.30, the operator's types), checked by tsc, so a misspelt or misplaced field fails
//    instead of being dropped by the API server, which the JSON schemas allow;
// 3. Pod Security "restricted" for every pod template (pss.mjs);
// 4. installs kept apart: the instance label in every selector, and no selector of one
//    rendered set picks the pods of another (labels.mjs);
// 5. ring: what the sidecar needs to work, checked across objects (ring.mjs).
//
// Usage: node validate.mjs NAME=RENDERED.yaml...   Exit 0 when every check passes, else 1.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import YAML from "yaml";
import { checkApart, checkInstance } from "./labels.mjs";
import { checkRestricted } from "./pss.mjs";
import { checkAppProtocol, checkRing } from "./ring.mjs";

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

// prometheus-operator's kinds come from its own models package; every other kind from
// kubernetes-models.
const OPERATOR_GROUP = "monitoring.coreos.com/";

function modelModule(o) {
    return o.apiVersion.startsWith(OPERATOR_GROUP)
        ? `@kubernetes-models/prometheus-operator/${o.apiVersion}/${o.kind}`
        : `kubernetes-models/${o.apiVersion}/${o.kind}`;
}

async function checkSchemas(objs, set) {
    for (const o of objs) {
        const mod = modelModule(o);
        let Model;
        try {
            Model = (await import(mod))[o.kind];
        } catch (e) {
            check(`${set} schema ${objName(o)}`, false, `no model ${mod} (${e.message})`);
            continue;
        }
        let why = "";
        try {
            new Model(o).validate();
        } catch (e) {
            why = e.message;
        }
        check(`${set} schema ${objName(o)} (${o.apiVersion})`, why === "", why);
    }
}

// ---- 2. fields ---------------------------------------------------------------------------

// The Kubernetes versions whose types every object must fit, as [version, package]: the
// oldest the manifests support (native sidecars are on by default from 1.29) and the newest
// kubernetes-types has.
const TYPES = [["1.29", "kubernetes-types-1.29"], ["1.30", "kubernetes-types"]];

// The type of |o| in |types| (a package of TYPES) as an import line binding it to |alias|.
function typeImport(o, alias, types) {
    if (o.apiVersion.startsWith(OPERATOR_GROUP)) {
        return `import type { I${o.kind} as ${alias} } from "${modelModule(o)}";`;
    }
    const [group, version] = o.apiVersion.includes("/") ? o.apiVersion.split("/")
                                                        : ["core", o.apiVersion];
    return `import type { ${o.kind} as ${alias} } from ` +
        `"${types}/${group.split(".")[0]}/${version}";`;
}

function checkFields(objs, set, [k8s, types]) {
    const lines = [];
    objs.forEach((o, i) => {
        lines.push(typeImport(o, `T${i}`, types));
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
            target: ts.ScriptTarget.ES2022,
            // Only the rendered objects are checked, not the packages' own declarations.
            skipLibCheck: true,
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
    check(`${set} fields (Kubernetes ${k8s}): ${objs.length} objects have only known fields ` +
          "of the right types",
          diags.length === 0, "\n      " + text.join("\n      "));
}

// ---- the run -----------------------------------------------------------------------------

const args = process.argv.slice(2).map((a) => a.split("="));
if (args.length === 0 || args.some((a) => a.length !== 2)) {
    console.error("usage: node validate.mjs NAME=RENDERED.yaml...");
    process.exit(2);
}
const sets = [];
for (const [set, file] of args) {
    const objs = load(file);
    check(`${set}: the manifests render to objects`, objs.length > 0);
    await checkSchemas(objs, set);
    for (const t of TYPES) {
        checkFields(objs, set, t);
    }
    for (const o of objs.filter((o) => o.spec?.template?.spec !== undefined)) {
        checkRestricted(check, `${set} ${objName(o)}`, o.spec.template);
    }
    checkAppProtocol(check, objs, set);
    checkInstance(check, objs, set);
    checkRing(check, objs, set);
    sets.push([set, objs]);
}
checkApart(check, sets);
console.log(`\nk8s manifests: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
