// Installs kept apart: every selector that picks pods carries app.kubernetes.io/instance, and
// no selector of one rendered kustomization picks a pod of another, so two installs in one
// namespace (the example StatefulSet and examples/web here) never form one ring, share a
// Service, a disruption budget, a network policy or a scrape.
import { matches } from "./ring.mjs";

export const INSTANCE = "app.kubernetes.io/instance";

function template(o) {
    return ["Deployment", "StatefulSet", "DaemonSet"].includes(o.kind) ? o.spec.template : null;
}

// [where, matchLabels] of every label selector in |o|. A peer selector left empty on purpose
// ("any pod of the namespace", a NetworkPolicy rule's from) is not a selection of pods.
function selectors(o) {
    const out = [];
    const add = (where, sel) => out.push([`${o.kind}/${o.metadata.name} ${where}`, sel ?? {}]);
    const t = template(o);
    if (t !== null) {
        add("spec.selector", o.spec.selector?.matchLabels);
        (t.spec.topologySpreadConstraints ?? []).forEach(
            (c, i) => add(`topologySpreadConstraints[${i}]`, c.labelSelector?.matchLabels));
    } else if (o.kind === "Service" && o.spec.selector !== undefined) {
        add("spec.selector", o.spec.selector);
    } else if (o.kind === "PodDisruptionBudget" || o.kind === "PodMonitor") {
        add("spec.selector", o.spec.selector?.matchLabels);
    } else if (o.kind === "NetworkPolicy") {
        add("spec.podSelector", o.spec.podSelector?.matchLabels);
        (o.spec.ingress ?? []).forEach((r, i) => (r.from ?? []).forEach((f, j) => {
            if (Object.keys(f.podSelector?.matchLabels ?? {}).length > 0) {
                add(`ingress[${i}].from[${j}]`, f.podSelector.matchLabels);
            }
        }));
    }
    return out;
}

// Every selector of |objs| names the instance, and so does every pod template.
export function checkInstance(check, objs, set) {
    for (const o of objs) {
        const t = template(o);
        if (t !== null) {
            check(`${set} ${o.kind}/${o.metadata.name}: pods carry ${INSTANCE}`,
                  t.metadata?.labels?.[INSTANCE] !== undefined);
        }
        for (const [where, sel] of selectors(o)) {
            check(`${set} ${where} selects by ${INSTANCE}`, sel[INSTANCE] !== undefined,
                  JSON.stringify(sel));
        }
    }
}

// No selector of one set picks the pods of another; |sets| is [[name, objs], ...].
export function checkApart(check, sets) {
    for (const [a, objsA] of sets) {
        for (const [b, objsB] of sets) {
            if (a === b) {
                continue;
            }
            const pods = objsB.map(template).filter((t) => t !== null);
            const crossing = objsA.flatMap(selectors)
                .filter(([, sel]) => pods.some((t) => matches(sel, t.metadata?.labels)))
                .map(([where]) => where);
            check(`no selector of ${a} picks a pod of ${b}`, crossing.length === 0,
                  crossing.join("; "));
        }
    }
}
