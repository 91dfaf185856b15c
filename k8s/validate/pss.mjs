// Pod Security Standards, profile "restricted" (which includes "baseline"), as the
// PodSecurity admission controller of Kubernetes 1.29 to 1.32 enforces it at level "latest":
// https://kubernetes.io/docs/concepts/security/pod-security-standards/. Each control is a
// function of the pod spec (and its annotations) returning what it forbids, "" when none.
// Pods a namespace labelled pod-security.kubernetes.io/enforce=restricted would refuse fail.

const RESTRICTED_VOLUMES = new Set([
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
    "projected", "secret",
]);
const SAFE_SYSCTLS = new Set([
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
]);
const SELINUX_TYPES = new Set(["", "container_t", "container_init_t", "container_kvm_t",
                               "container_engine_t"]);

function containers(spec) {
    return [...(spec.initContainers ?? []), ...(spec.containers ?? []),
            ...(spec.ephemeralContainers ?? [])];
}

// Names of the containers for which |bad(container)| holds, as "a, b", or "".
function which(spec, bad) {
    return containers(spec).filter(bad).map((c) => c.name).join(", ");
}

// A container's setting, else the pod's (container-level fields override the pod's).
function effective(spec, c, field) {
    return c.securityContext?.[field] ?? spec.securityContext?.[field];
}

const controls = {
    // ---- baseline
    "host namespaces": (spec) =>
        ["hostNetwork", "hostPID", "hostIPC"].filter((f) => spec[f] === true).join(", "),
    "privileged containers": (spec) => which(spec, (c) => c.securityContext?.privileged === true),
    "host ports": (spec) =>
        which(spec, (c) => (c.ports ?? []).some((p) => (p.hostPort ?? 0) !== 0)),
    "proc mount": (spec) =>
        which(spec, (c) => ![undefined, "Default"].includes(c.securityContext?.procMount)),
    "SELinux": (spec) => {
        const bad = (o) => o !== undefined &&
            (!SELINUX_TYPES.has(o.type ?? "") || o.user !== undefined || o.role !== undefined);
        return bad(spec.securityContext?.seLinuxOptions) ? "pod" :
            which(spec, (c) => bad(c.securityContext?.seLinuxOptions));
    },
    "sysctls": (spec) => (spec.securityContext?.sysctls ?? [])
        .filter((s) => !SAFE_SYSCTLS.has(s.name)).map((s) => s.name).join(", "),
    "AppArmor": (spec, annotations) => {
        const badProfile = (p) =>
            p !== undefined && !["RuntimeDefault", "Localhost"].includes(p.type);
        const badAnnotation = Object.entries(annotations ?? {}).some(([k, v]) =>
            k.startsWith("container.apparmor.security.beta.kubernetes.io/") &&
            v !== "runtime/default" && !v.startsWith("localhost/"));
        return badAnnotation || badProfile(spec.securityContext?.appArmorProfile) ? "pod" :
            which(spec, (c) => badProfile(c.securityContext?.appArmorProfile));
    },
    "host process (Windows)": (spec) =>
        spec.securityContext?.windowsOptions?.hostProcess === true ? "pod" :
            which(spec, (c) => c.securityContext?.windowsOptions?.hostProcess === true),
    // ---- restricted
    "volume types": (spec) => (spec.volumes ?? [])
        .filter((v) => !Object.keys(v).some((k) => RESTRICTED_VOLUMES.has(k)))
        .map((v) => v.name).join(", "),
    "privilege escalation": (spec) =>
        which(spec, (c) => c.securityContext?.allowPrivilegeEscalation !== false),
    "running as non-root": (spec) =>
        spec.securityContext?.runAsNonRoot === false ? "pod" :
            which(spec, (c) => effective(spec, c, "runAsNonRoot") !== true),
    "running as non-root user": (spec) =>
        spec.securityContext?.runAsUser === 0 ? "pod" :
            which(spec, (c) => c.securityContext?.runAsUser === 0),
    "seccomp": (spec) => {
        const ok = (p) => ["RuntimeDefault", "Localhost"].includes(p?.type);
        const pod = spec.securityContext?.seccompProfile;
        if (pod !== undefined && !ok(pod)) {
            return "pod";
        }
        return which(spec, (c) => !ok(c.securityContext?.seccompProfile ?? pod));
    },
    "capabilities": (spec) => which(spec, (c) => {
        const caps = c.securityContext?.capabilities ?? {};
        return !(caps.drop ?? []).includes("ALL") ||
            (caps.add ?? []).some((a) => a !== "NET_BIND_SERVICE");
    }),
};

// Calls check(name, ok, why) once per control for the pod template |template|.
export function checkRestricted(check, what, template) {
    for (const [name, violates] of Object.entries(controls)) {
        const bad = violates(template.spec, template.metadata?.annotations);
        check(`${what}: Pod Security restricted, ${name}`, bad === "", bad);
    }
}
